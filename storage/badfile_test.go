package storage_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"resyn/storage"
)

// goodStore makes a store with some records in it and returns its bytes.
func goodStore(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "good.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := storage.TrainRun{}
	err = db.Update(func(tx *storage.Tx) error {
		for i := 0; i < 50; i++ {
			e := storage.Env{Name: "env", Source: strings.Repeat("x = 1\n", 200), Status: storage.StatusCandidate}
			if err := storage.PutEnv(tx, &e); err != nil {
				return err
			}
		}
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		pts := make([]storage.MetricPoint, 5000)
		for i := range pts {
			pts[i] = storage.MetricPoint{Step: int64(i), Name: "loss", Value: float64(i)}
		}
		return storage.PutMetrics(tx, run.ID, pts)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// foreignBolt makes a bbolt file that some other program wrote.
func foreignBolt(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foreign.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bolt.Tx) error {
		bk, _ := tx.CreateBucket([]byte("widgets"))
		return bk.Put([]byte("k"), []byte("v"))
	})
	b.Close()
	data, _ := os.ReadFile(path)
	return data
}

func TestBadFilesAreRefusedAndNeverModified(t *testing.T) {
	good := goodStore(t)
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 64<<10)
	rng.Read(random)
	corruptMetas := bytes.Clone(good)
	for i := 16 + 8; i < 16+56; i++ { // both meta pages, past the magic number
		corruptMetas[i] ^= 0xff
		corruptMetas[4096+i] ^= 0xff
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, storage.ErrNotStore},
		{"zeroed", make([]byte, len(good)), storage.ErrNotStore},
		{"random bytes", random, storage.ErrNotStore},
		{"text file", []byte("hello, this is not a database\n"), storage.ErrNotStore},
		{"truncated to half", good[:len(good)/2], storage.ErrCorrupt},
		{"truncated to one page", good[:4096], storage.ErrCorrupt},
		{"truncated mid-meta", good[:40], storage.ErrCorrupt},
		{"both metas damaged", corruptMetas, storage.ErrCorrupt},
		{"another program's bbolt file", foreignBolt(t), storage.ErrNotStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resyn.db")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			os.Chtimes(path, old, old)
			for _, ro := range []bool{true, false} {
				db, err := storage.Open(path, storage.Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("read-only=%v: opened without error", ro)
				}
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("read-only=%v: err = %v, want %v naming the file", ro, err, c.want)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(path)
			if !bytes.Equal(after, c.data) || !st.ModTime().Equal(old) {
				t.Errorf("the file was modified")
			}
		})
	}
}

// A store whose data pages (not its metas) are damaged opens, and Check
// reports the damage rather than crashing.
func TestCheckReportsDamagedPages(t *testing.T) {
	good := goodStore(t)
	seeds := int64(5)
	if os.Getenv("RESYN_LONG") != "" {
		seeds = 300
	}
	for seed := int64(0); seed < seeds; seed++ {
		bad := bytes.Clone(good)
		rng := rand.New(rand.NewSource(seed))
		for i := 0; i < 64; i++ {
			// Leave the two meta pages alone; scribble over the rest.
			bad[2*4096+rng.Intn(len(bad)-2*4096)] = byte(rng.Intn(256))
		}
		path := filepath.Join(t.TempDir(), "damaged.db")
		os.WriteFile(path, bad, 0o600)
		db, err := storage.Open(path, storage.Options{ReadOnly: true})
		if err != nil {
			if !errors.Is(err, storage.ErrCorrupt) && !errors.Is(err, storage.ErrNotStore) {
				t.Errorf("seed %d: open: %v, want ErrCorrupt or ErrNotStore", seed, err)
			}
			continue
		}
		problems, err := db.Check()
		db.Close()
		if err == nil && len(problems) == 0 {
			// Scribbles can land in free space; that is no damage.
			continue
		}
		if seeds <= 5 {
			t.Logf("seed %d: %d problems, err %v", seed, len(problems), err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
			t.Errorf("seed %d: check modified the file", seed)
		}
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, _ := bolt.Open(path, 0o600, nil)
	b.Update(func(tx *bolt.Tx) error {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, storage.SchemaVersion+1)
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), v)
	})
	b.Close()
	before, _ := os.ReadFile(path)
	for _, ro := range []bool{true, false} {
		_, err := storage.Open(path, storage.Options{ReadOnly: ro})
		if !errors.Is(err, storage.ErrTooNew) || !strings.Contains(err.Error(), "upgrade resyn") {
			t.Errorf("read-only=%v: %v, want ErrTooNew", ro, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("the file was modified")
	}
}

func TestNewerRecordIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, _ := storage.Open(path, storage.Options{})
	db.Close()
	b, _ := bolt.Open(path, 0o600, nil)
	b.Update(func(tx *bolt.Tx) error {
		revs, _ := tx.Bucket([]byte("envs")).CreateBucket([]byte("future"))
		v, _ := json.Marshal(map[string]any{"version": 99, "name": "future"})
		return revs.Put(make([]byte, 8), v)
	})
	b.Close()
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *storage.Tx) error { _, err := storage.GetEnv(tx, "future"); return err })
	if !errors.Is(err, storage.ErrTooNew) {
		t.Errorf("GetEnv: %v, want ErrTooNew", err)
	}
	if problems, _ := db.Check(); len(problems) != 1 {
		t.Errorf("check: %v, want one problem", problems)
	}
}

// A reachable branch page of the store (a bucket's root that is a branch)
// and its first child, found through bbolt's own API.
func branchPage(t *testing.T, data []byte) (branch, child uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "find.db")
	os.WriteFile(path, data, 0o600)
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var visit func(bk *bolt.Bucket)
	visit = func(bk *bolt.Bucket) {
		if branch != 0 {
			return
		}
		const branchFlag = 0x01
		if r := uint64(bk.Root()); r != 0 && binary.LittleEndian.Uint16(data[r*4096+8:])&branchFlag != 0 {
			branch = r
			return
		}
		bk.ForEachBucket(func(k []byte) error { visit(bk.Bucket(k)); return nil })
	}
	b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { visit(bk); return nil })
	})
	if branch == 0 {
		t.Fatal("the test store has no branch page")
	}
	return branch, binary.LittleEndian.Uint64(data[branch*4096+16+8:])
}

// Damage that bbolt's own check cannot survive — it faults on its own
// goroutine (a crash), marks two billion pages (killed for memory) or loops
// forever — is found by resyn's page walk first, and reported.
func TestCheckSurvivesHostilePages(t *testing.T) {
	good := goodStore(t)
	branch, child := branchPage(t, good)
	le := binary.LittleEndian
	cases := []struct {
		name   string
		damage func(b []byte)
		want   string
	}{
		{"branch key far past the file", func(b []byte) { le.PutUint32(b[branch*4096+16:], 0x7fff0000) }, "key lies outside"},
		{"child with an overflow of 2^31 pages", func(b []byte) { le.PutUint32(b[child*4096+12:], 1<<31) }, "runs over"},
		{"branch that is its own child", func(b []byte) { le.PutUint64(b[branch*4096+16+8:], branch) }, "reached twice"},
		{"child outside the file", func(b []byte) { le.PutUint64(b[branch*4096+16+8:], 1<<40) }, "outside the file"},
		{"branch with no elements", func(b []byte) { le.PutUint16(b[branch*4096+10:], 0) }, "claims 0 elements"},
		{"child flagged both branch and leaf", func(b []byte) { le.PutUint16(b[child*4096+8:], 0x03) }, "neither a branch nor a leaf"},
		{"leaf elements past the page", func(b []byte) { le.PutUint16(b[child*4096+10:], 0xfff0) }, "more than it holds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(good)
			c.damage(bad)
			path := filepath.Join(t.TempDir(), "damaged.db")
			os.WriteFile(path, bad, 0o600)
			db, err := storage.Open(path, storage.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			problems, err := db.Check()
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) == 0 || !strings.Contains(problems[0], c.want) {
				t.Fatalf("problems %q, want one saying %q", problems, c.want)
			}
			// A writer refuses the store (it would add to the damage),
			// naming the page and db check.
			if w, err := storage.Open(path, storage.Options{}); err == nil {
				w.Close()
				t.Error("opened a store with damaged pages for writing")
			} else if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "resyn db check") {
				t.Errorf("open for writing: %v, want ErrCorrupt saying %q and naming resyn db check", err, c.want)
			}
			// A backup fails and writes nothing.
			ro, _ := storage.Open(path, storage.Options{ReadOnly: true})
			out := filepath.Join(t.TempDir(), "backup.db")
			if _, err := ro.BackupFile(out); !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("backup of a damaged store: %v, want ErrCorrupt naming the store", err)
			}
			ro.Close()
			if _, err := os.Stat(out); err == nil {
				t.Error("a backup of a damaged store was written")
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Error("check modified the file")
			}
		})
	}
}

// A meta page whose checksum holds but whose numbers are absurd (forged, or
// damage that kept the checksum) is refused at Open, never modified. A
// high-water mark near 2^64 once wrapped round the truncation check
// (pgid × page size overflowed to a small number), and the page walk of
// Check then asked for a bitmap of 2^52 pages: with 64 KiB pages the
// process died for memory. A free-page count near 2^64 wrapped round its
// own check the same way.
func TestForgedCountsAreRefused(t *testing.T) {
	good := goodStore(t)
	le := binary.LittleEndian
	off := 0 // the newest meta page
	if le.Uint64(good[4096+16+48:]) > le.Uint64(good[16+48:]) {
		off = 4096
	}
	freelist := le.Uint64(good[off+16+32:])
	pgid := le.Uint64(good[off+16+40:])
	resum := func(b []byte) {
		h := fnv.New64a()
		h.Write(b[off+16 : off+16+56])
		le.PutUint64(b[off+16+56:], h.Sum64())
	}
	cases := []struct {
		name   string
		damage func(b []byte)
	}{
		{"high-water mark wrapping round", func(b []byte) { le.PutUint64(b[off+16+40:], pgid+1<<52); resum(b) }},
		{"high-water mark past 2^63", func(b []byte) { le.PutUint64(b[off+16+40:], pgid+1<<63); resum(b) }},
		{"free-page count wrapping round", func(b []byte) {
			p := freelist * 4096
			le.PutUint16(b[p+10:], 0xFFFF)
			le.PutUint64(b[p+16:], 1<<61-1)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(good)
			c.damage(bad)
			path := filepath.Join(t.TempDir(), "forged.db")
			os.WriteFile(path, bad, 0o600)
			for _, ro := range []bool{true, false} {
				db, err := storage.Open(path, storage.Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("read-only=%v: opened", ro)
				}
				if !errors.Is(err, storage.ErrCorrupt) {
					t.Errorf("read-only=%v: %v, want ErrCorrupt", ro, err)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Error("the file was modified")
			}
		})
	}
}

// A store whose meta has no free-page list (written with NoFreelistSync, or
// forged) makes bbolt rebuild the list when it opens the file for writing,
// walking every page on a goroutine of its own: a damaged page there crashed
// the process. Open walks the pages first and refuses the file; without
// damage the store opens as usual.
func TestNoFreelistWithDamagedPages(t *testing.T) {
	good := goodStore(t)
	branch, _ := branchPage(t, good)
	le := binary.LittleEndian
	off := 0 // the newest meta page
	if le.Uint64(good[4096+16+48:]) > le.Uint64(good[16+48:]) {
		off = 4096
	}
	noFreelist := bytes.Clone(good)
	le.PutUint64(noFreelist[off+16+32:], ^uint64(0))
	h := fnv.New64a()
	h.Write(noFreelist[off+16 : off+16+56])
	le.PutUint64(noFreelist[off+16+56:], h.Sum64())

	dir := t.TempDir()
	path := filepath.Join(dir, "nofreelist.db")
	os.WriteFile(path, noFreelist, 0o600)
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatalf("a healthy store without a free-page list: %v", err)
	}
	problems, err := db.Check()
	db.Close()
	if err != nil || len(problems) > 0 {
		t.Fatalf("check: %v %v", problems, err)
	}

	damaged := bytes.Clone(noFreelist)
	le.PutUint64(damaged[branch*4096+16+8:], 1<<40) // a child far outside the file
	path = filepath.Join(dir, "damaged.db")
	os.WriteFile(path, damaged, 0o600)
	for _, ro := range []bool{true, false} {
		db, err := storage.Open(path, storage.Options{ReadOnly: ro})
		if err == nil {
			db.Close()
			t.Fatalf("read-only=%v: opened", ro)
		}
		if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "outside the file") {
			t.Errorf("read-only=%v: %v, want ErrCorrupt naming the page", ro, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
		t.Error("the file was modified")
	}
}

// TestDBFollowsTheFileAtItsPath: no process holds the store between
// transactions, so a store put at the path by rename (a restored backup)
// is what the next transaction reads — inspected first, as Open inspects a
// file: a healthy store is used, a file that is no store is refused by name
// and left as it is, and one whose pages are damaged is never written to.
func TestDBFollowsTheFileAtItsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := func() ([]string, error) {
		var out []string
		err := db.View(func(tx *storage.Tx) error {
			envs, err := storage.ListEnvs(tx)
			for _, e := range envs {
				out = append(out, e.Name)
			}
			return err
		})
		return out, err
	}
	put := func(d *storage.DB, name string) error {
		return d.Update(func(tx *storage.Tx) error {
			return storage.PutEnv(tx, &storage.Env{Name: name, Source: "x", Status: storage.StatusCandidate})
		})
	}
	if err := put(db, "first"); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	o, err := storage.Open(other, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := put(o, "second"); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if got, err := names(); err != nil || len(got) != 1 || got[0] != "second" {
		t.Fatalf("after a store was renamed over the path: %v, %v; want [second]", got, err)
	}
	if problems, err := db.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("check of the new file: %v %v", problems, err)
	}
	if err := put(db, "third"); err != nil {
		t.Fatalf("writing to the new file: %v", err)
	}

	// Something that is no store at all.
	junk := bytes.Repeat([]byte("not a store "), 1000)
	os.WriteFile(other, junk, 0o600)
	os.Rename(other, path)
	if _, err := names(); !errors.Is(err, storage.ErrNotStore) || !strings.Contains(err.Error(), path) {
		t.Errorf("reading a junk file renamed over the store: %v, want ErrNotStore naming %s", err, path)
	}
	if err := put(db, "fourth"); !errors.Is(err, storage.ErrNotStore) {
		t.Errorf("writing to a junk file renamed over the store: %v, want ErrNotStore", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, junk) {
		t.Error("the junk file was modified")
	}

	// A store whose pages are damaged: readable, never written to.
	damaged := goodStore(t)
	branch, _ := branchPage(t, damaged)
	binary.LittleEndian.PutUint64(damaged[branch*4096+16+8:], branch) // a branch that is its own child
	os.WriteFile(other, damaged, 0o600)
	os.Rename(other, path)
	err = put(db, "fifth")
	if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "db check") {
		t.Errorf("writing to a store with damaged pages: %v, want ErrCorrupt naming resyn db check", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
		t.Error("the damaged store was modified")
	}
}
