package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"resyn/storage"
)

// TestLaunchExplainsAStoreItCannotOpen: a locked store, a file that is not
// a store and any other failure each get their own words, and the
// workbench does not start.
func TestLaunchExplainsAStoreItCannotOpen(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x.db: %w", storage.ErrLocked), "cannot open the workbench: x.db: "},
		{fmt.Errorf("x.db: %w", storage.ErrNotStore), "; pass --db to use another file"},
		{errors.New("disk on fire"), "cannot open the workbench on /tmp/x.db: disk on fire"},
	} {
		o := LaunchOptions{Options: Options{StorePath: "/tmp/x.db"}, Open: func(string) (*storage.DB, error) { return nil, c.err }}
		err := Launch(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.err) {
			t.Errorf("%v: %v, want %q", c.err, err, c.want)
		}
	}
}
