package export

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// hyparquetVersion is the npm package the independent reader uses: a
// Parquet reader written from the specification in plain JavaScript, with
// no code in common with parquet-go.
const hyparquetVersion = "1.31.5"

// nodeReader prints a Parquet file's rows as one JSON array, nested
// columns as objects and lists, 64-bit integers as numbers.
const nodeReader = `
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
const file = await asyncBufferFromFile(process.argv[2])
const rows = await parquetReadObjects({ file })
process.stdout.write(JSON.stringify(rows, (k, v) => typeof v === 'bigint' ? Number(v) : v))
`

// hyparquet installs the reader into a cache directory (once per machine)
// and returns the directory that holds node_modules. The long suite needs
// node and npm: without them it fails with a message that says so.
func hyparquet(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the independent Parquet reader needs %s (Debian: apt-get install nodejs npm): %v", tool, err)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "resyn-test", "hyparquet-"+hyparquetVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hyparquet", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "hyparquet@"+hyparquetVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install hyparquet@%s into %s: %v\n%s", hyparquetVersion, dir, err, out)
	}
	return dir
}

// TestParquetIndependentReader reads an exported file with hyparquet under
// node and compares every row with what parquet-go wrote.
func TestParquetIndependentReader(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	dir := hyparquet(t)
	ex, mods := local(t)
	opts := Options{Envs: mods, N: 600, Seed: 11, MinDifficulty: 1, MaxDifficulty: 10, TestFraction: 0.1}
	want := records(t, ex, opts)
	path := filepath.Join(t.TempDir(), "all.parquet")
	if _, err := Export(context.Background(), ex, opts, FormatVerl, path, nil, nil); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "read.mjs")
	if err := os.WriteFile(script, []byte(nodeReader), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, path)
	cmd.Stderr = new(strings.Builder)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, cmd.Stderr)
	}
	var rows []VerlRow
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("hyparquet output is not rows: %v\n%.500s", err, out)
	}
	if len(rows) != len(want) {
		t.Fatalf("hyparquet read %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if !reflect.DeepEqual(r, VerlRowOf(want[i])) {
			t.Fatalf("row %d: hyparquet read\n%+v\nwant\n%+v", i, r, VerlRowOf(want[i]))
		}
	}
}
