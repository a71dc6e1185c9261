package themes

import "errors"

// ErrUnknownTheme: ByName or Select was given a name that is not a theme.
var ErrUnknownTheme = errors.New("unknown theme")
