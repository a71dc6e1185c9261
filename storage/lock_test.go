//go:build linux

package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTurnstileLetsAWaitingReaderIn: a writer that ends its transaction and
// at once asks for the next one cannot get in before a reader that was
// already waiting. Without the turnstile the kernel hands the free lock to
// whoever asks first, and a writer looping on commits starves the reader.
func TestTurnstileLetsAWaitingReaderIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	far := time.Now().Add(time.Minute)
	writer := open()
	if err := lockStoreFile(writer, true, far); err != nil {
		t.Fatal(err)
	}
	readerIn := make(chan *os.File)
	go func() {
		r := open()
		if err := lockStoreFile(r, false, far); err != nil {
			t.Error(err)
		}
		readerIn <- r
	}()
	// The reader queues: it holds the turnstile while it waits for the
	// writer's store lock. (The one wait on the clock here, and only a
	// last resort: the reader is in the queue long before it.)
	probe := open()
	defer probe.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if held, err := rangeLocked(probe, lockTurnstile); err != nil {
			t.Fatal(err)
		} else if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting reader never held the turnstile")
		}
		time.Sleep(time.Millisecond)
	}
	// The writer ends its transaction and asks again at once.
	writer.Close()
	writerIn := make(chan *os.File, 1)
	go func() {
		w := open()
		if err := lockStoreFile(w, true, far); err != nil {
			t.Error(err)
		}
		writerIn <- w
	}()
	r := <-readerIn
	select {
	case w := <-writerIn:
		w.Close()
		t.Fatal("the writer got back in while the reader waited")
	default:
	}
	r.Close()
	(<-writerIn).Close()
}
