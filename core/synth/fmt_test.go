package synth

import "fmt"

func fmtType(e Event) string { return fmt.Sprintf("%T", e) }
