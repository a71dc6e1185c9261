package integrations

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// verlVersions are the supported verl versions with the fixture of each
// one's config schema and the reward lines run_grpo.sh must give it.
var verlVersions = []struct {
	version, keys string
	reward        []string // overrides of the reward, beside custom_reward_function.path
}{
	{"0.5.0", "verl-0.5.0.keys", []string{"reward_model.reward_manager=batch", "custom_reward_function.name=compute_score_batch"}},
	{"0.6.0", "verl-0.6.0.keys", []string{"reward_model.reward_manager=batch", "custom_reward_function.name=compute_score_batch"}},
	{"0.6.1", "verl-0.6.1.keys", []string{"reward_model.reward_manager=batch", "custom_reward_function.name=compute_score_batch"}},
	{"0.7.0", "verl-0.7.0.keys", []string{"reward_model.use_reward_loop=True", "reward_model.reward_manager=naive", "custom_reward_function.name=compute_score_async"}},
	{"0.8.0.dev0", "verl-main.keys", []string{"reward_model.use_reward_loop=True", "reward_model.reward_manager=naive", "custom_reward_function.name=compute_score_async"}},
}

func readKeys(t *testing.T, name string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("verl", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			keys[line] = true
		}
	}
	if len(keys) < 300 {
		t.Fatalf("%s holds %d keys; a verl schema has hundreds", name, len(keys))
	}
	return keys
}

func printOverrides(t *testing.T, version string, extra ...string) ([]string, string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("verl", "run_grpo.sh"), "--print-overrides"}, extra...)...)
	cmd.Env = append(os.Environ(), "VERL_VERSION="+version, "RESYN=/opt/resyn")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return strings.Split(strings.TrimSpace(out.String()), "\n"), errb.String(), err
}

// TestRunGRPOOverridesMatchVerlSchema: every key run_grpo.sh sets exists in
// the config schema of the verl version it was set for (Hydra refuses an
// unknown key at start-up, and a renamed one is the failure this guards),
// and the reward lines are those that version can run: verl 0.7's reward
// loop has no batch manager ("Unknown reward manager: batch").
func TestRunGRPOOverridesMatchVerlSchema(t *testing.T) {
	for _, v := range verlVersions {
		keys := readKeys(t, v.keys)
		lines, errOut, err := printOverrides(t, v.version)
		if err != nil {
			t.Fatalf("verl %s: %v\n%s", v.version, err, errOut)
		}
		for _, l := range lines {
			k, _, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("verl %s: %q is not KEY=VALUE", v.version, l)
				continue
			}
			if !keys[k] {
				t.Errorf("verl %s: run_grpo.sh sets %s, which verl %s's config does not have (%s)", v.version, k, v.version, v.keys)
			}
		}
		for _, want := range append(v.reward, "custom_reward_function.path=/opt/resyn/integrations/verl/resyn_reward.py") {
			if !slices.Contains(lines, want) {
				t.Errorf("verl %s: no %s among\n%s", v.version, want, strings.Join(lines, "\n"))
			}
		}
		if batch := slices.Contains(lines, "reward_model.reward_manager=batch"); batch && keys["reward_model.use_reward_loop"] {
			t.Errorf("verl %s has the reward loop (on by default), whose registry has no batch manager", v.version)
		}
	}
	// The user's own overrides come last, so that they win.
	lines, _, err := printOverrides(t, "0.7.0", "trainer.total_epochs=3")
	if err != nil || lines[len(lines)-1] != "trainer.total_epochs=3" {
		t.Errorf("user override: %v %v", err, lines)
	}
	for version, want := range map[string]string{"0.4.2": "older than the supported 0.5, 0.6 and 0.7", "nightly": `cannot read the verl version "nightly"`} {
		if _, errOut, err := printOverrides(t, version); err == nil || !strings.Contains(errOut, want) {
			t.Errorf("verl %s: %v %q", version, err, errOut)
		}
	}
}

// TestShimHasTheFunctionsRunGRPONames: the reward functions the script
// names exist in the shim, and the reward loop's is a coroutine function,
// as verl's get_custom_reward_fn tells them apart
// (inspect.iscoroutinefunction). Needs python3 (standard library only).
func TestShimHasTheFunctionsRunGRPONames(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed (Debian: apt-get install python3): %v", err)
	}
	script := `
import importlib.util, inspect, sys
spec = importlib.util.spec_from_file_location("resyn_reward", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
for name in sys.argv[2:]:
    f = getattr(m, name)
    print(name, "async" if inspect.iscoroutinefunction(f) else "sync")
`
	names := map[string]string{"compute_score": "sync", "compute_score_batch": "sync", "compute_score_async": "async"}
	for _, v := range verlVersions {
		lines, _, _ := printOverrides(t, v.version)
		for _, l := range lines {
			if fn, ok := strings.CutPrefix(l, "custom_reward_function.name="); ok && names[fn] == "" {
				t.Errorf("verl %s: run_grpo.sh names %s, which the test does not know", v.version, fn)
			}
		}
	}
	out, err := exec.Command(py, "-c", script, filepath.Join("verl", "resyn_reward.py"), "compute_score", "compute_score_batch", "compute_score_async").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, kind := range names {
		if !strings.Contains(string(out), name+" "+kind+"\n") {
			t.Errorf("%s is not %s:\n%s", name, kind, out)
		}
	}
}
