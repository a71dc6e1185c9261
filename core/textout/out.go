package textout

import (
	"bufio"
	"os"
	"path/filepath"
)

// CreateOut opens --out (or stdout for "" and "-") and returns a closer that
// reports write errors. Callers flush w as their work produces output (a
// chunk at a time), so that a reader of the file or pipe sees rows as they
// come and an interrupted run leaves only complete lines.
func CreateOut(path string) (*bufio.Writer, func() error, error) {
	if path == "" || path == "-" {
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		return w, w.Flush, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return w, func() error {
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// OutName names --out in messages.
func OutName(path string) string {
	if path == "" || path == "-" {
		return "stdout"
	}
	return path
}

// WriteOut writes data to stdout for path "" or "-", else to the file at
// path through a temporary file renamed into place, so a crash never
// leaves a half-written file.
func WriteOut(path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
