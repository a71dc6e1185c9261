package textout

import (
	"io"
	"os"
)

// OpenIn opens an input path as commands take it: "-" is stdin (closing
// it does nothing), anything else a file (an *os.File, whose size a reader
// may stat).
func OpenIn(path string) (io.Reader, func(), error) {
	if path == "-" {
		return os.Stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
