package storage_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"resyn/storage"
)

// TestResolvePath: --db, then RESYN_DB, then XDG_DATA_HOME, then
// ~/.local/share.
func TestResolvePath(t *testing.T) {
	t.Setenv("RESYN_DB", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := storage.ResolvePath(""); got != "/home/u/.local/share/resyn/resyn.db" {
		t.Errorf("default = %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := storage.ResolvePath(""); got != "/data/resyn/resyn.db" {
		t.Errorf("XDG = %s", got)
	}
	t.Setenv("RESYN_DB", "/env.db")
	if got := storage.ResolvePath(""); got != "/env.db" {
		t.Errorf("RESYN_DB = %s", got)
	}
	if got := storage.ResolvePath("/flag.db"); got != "/flag.db" {
		t.Errorf("flag = %s", got)
	}
}

// TestOptionsFromEnv: RESYN_LOCK_WAIT is a positive duration, named when
// it is not.
func TestOptionsFromEnv(t *testing.T) {
	t.Setenv("RESYN_LOCK_WAIT", "2m")
	if o, err := storage.OptionsFromEnv(true); err != nil || o.LockWait != 2*time.Minute || !o.ReadOnly {
		t.Errorf("2m: %+v, %v", o, err)
	}
	for _, bad := range []string{"0s", "soon"} {
		t.Setenv("RESYN_LOCK_WAIT", bad)
		if _, err := storage.OptionsFromEnv(false); err == nil || !strings.Contains(err.Error(), `RESYN_LOCK_WAIT="`+bad+`"`) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestOpenExistingAndInfoRows: a read-only open where there is no store is
// (nil, nil); a writable one creates it, and its info rows name the sizes
// in binary units.
func TestOpenExistingAndInfoRows(t *testing.T) {
	t.Setenv("RESYN_LOCK_WAIT", "")
	path := filepath.Join(t.TempDir(), "s.db")
	if db, err := storage.OpenExisting(path, true); db != nil || err != nil {
		t.Fatalf("read-only, no store: %v, %v", db, err)
	}
	db, err := storage.OpenExisting(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	rows := in.Rows()
	if len(rows) != 8 || rows[0] != [2]string{"path", path} || rows[1][1] != storage.HumanBytes(in.Size) || rows[3] != [2]string{"environments", "0 (0 revisions)"} {
		t.Errorf("rows %v", rows)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 1 << 20: "1.0 MiB"} {
		if got := storage.HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
