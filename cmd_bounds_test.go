package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"resyn/core/serve/loadgen"
)

// procStatusKiB reads a "VmHWM:"-style line of /proc/PID/status, in KiB.
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}

// metricsOf fetches /metrics as series → value.
func metricsOf(t *testing.T, url string) map[string]string {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "#") {
			if i := strings.LastIndex(l, " "); i > 0 {
				out[l[:i]] = l[i+1:]
			}
		}
	}
	return out
}

// serveMemoryBoundMiB is the stated bound on the reward server's resident
// memory under TestServeMemoryBoundedUnderAbuse's flags (--max-body 64
// --max-body-total 192 --max-queued 16384): serve.Server.MemoryBound, the
// process at rest (64 MiB) plus twice the memory its bodies may take at
// once plus 2 KiB per item in flight. Before the server counted items
// while the body streamed and held a budget for bodies, one 63 MB body of
// {} items took it to 4.95 GB.
const serveMemoryBoundMiB = 64 + 2*192 + 16384*2/1024

// TestServeMemoryBoundedUnderAbuse runs `resyn serve` under hostile bodies
// (63 MB of {} items, endless valid items past --max-items, endless
// completions past --max-body, garbage, slow bodies, clients that leave,
// verifiers that raise megabytes) and concurrent large batches, all at
// once, and asserts that the server's peak resident memory stays under the
// stated bound while every good client gets its answer.
func TestServeMemoryBoundedUnderAbuse(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	file := filepath.Join(dir, "loud.star")
	if err := os.WriteFile(file, []byte(loadgen.LoudEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runResyn(t, db, "envs", "add", "--seeds", "3", file); code != 0 {
		t.Fatalf("envs add: %s", errs)
	}
	envs := []string{"graph_coloring", "maze", "sat_3cnf", "n_queens"}
	cmd, url, stderr := startServe(t, db, "--workers", "2", "--env", "loud,"+strings.Join(envs, ","),
		"--max-body", "64", "--max-body-total", "192", "--max-items", "4096", "--max-queued", "16384",
		"--item-timeout", "30s") // a verdict of the server, not of the load on the machine
	pid := cmd.Process.Pid
	rest := procStatusKiB(t, pid, "VmRSS")

	// 63 MB of {} items, with a Content-Length, as in the report.
	empties := append([]byte(`{"items":[`), bytes.Repeat([]byte(`{},`), 21_000_000)...)
	empties = append(empties[:len(empties)-1], "]}"...)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			res, err := http.Post(url+"/score", "application/json", bytes.NewReader(empties))
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 400 && res.StatusCode != 503 {
					err = fmt.Errorf("63 MB of {}: %d %s", res.StatusCode, b)
				}
			}
			done <- err
		}()
	}
	streams := []loadgen.Stream{
		{Kind: loadgen.Good, Clients: 3, Requests: 40},
		{Kind: loadgen.Large, Clients: 2, Requests: 6},
		{Kind: loadgen.Slow, Clients: 2, Requests: 2},
		{Kind: loadgen.Loud, Clients: 1, Requests: 8},
		{Kind: loadgen.TooMany, Clients: 2, Requests: 6},
		{Kind: loadgen.Empties, Clients: 1, Requests: 6},
		{Kind: loadgen.HugeBody, Clients: 2, Requests: 4},
		{Kind: loadgen.Garbage, Clients: 1, Requests: 30},
		{Kind: loadgen.Aborted, Clients: 1, Requests: 6},
	}
	rep := loadgen.Run(context.Background(), loadgen.Options{URL: url, Envs: envs, Difficulty: 2, Seed: 1, LargeBatch: 2048}, streams)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	var tally bytes.Buffer
	rep.Write(&tally)
	peak := procStatusKiB(t, pid, "VmHWM")
	t.Logf("server RSS at rest %d MiB, peak %d MiB (bound %d MiB)\n%s", rest>>10, peak>>10, serveMemoryBoundMiB, tally.String())
	if peak > serveMemoryBoundMiB<<10 {
		t.Errorf("server peak RSS %d MiB, over the bound of %d MiB", peak>>10, serveMemoryBoundMiB)
	}
	if v := rep.Violations(); v > 0 {
		t.Errorf("%d answers a sound server would not give:\n%s", v, tally.String())
	}
	if g := rep.Of(loadgen.Good); g.Statuses[200] != g.Requests || g.Requests != 120 {
		t.Errorf("good clients: %d of %d requests answered 200", g.Statuses[200], g.Requests)
	}
	// The aborted batches' items are cancelled, not environment errors.
	m := metricsOf(t, url)
	cancelled := 0
	for series, v := range m {
		if strings.HasPrefix(series, "resyn_serve_scores_total{") && strings.Contains(series, `kind="env_error"`) && !strings.Contains(series, `env="loud"`) && !strings.Contains(series, `code="unknown_env"`) {
			t.Errorf("false environment errors: %s %s", series, v)
		}
		if strings.Contains(series, `kind="cancelled"`) {
			n, _ := strconv.Atoi(v)
			cancelled += n
		}
	}
	t.Logf("%d items counted as cancelled", cancelled)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resyn serve after SIGTERM: %v\n%s", err, stderr)
	}
}

// jsonLines checks that every line of b is a JSON object and returns how
// many there are.
func jsonLines(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("the last line is not complete: %q", b[max(0, len(b)-80):])
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("line %d is not JSON: %v: %.100s", n+1, err, l)
		}
		n++
	}
	return n
}
