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
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"resyn/core/serve/loadgen"
)

// longStore skips a test outside the long suite and gives it a scratch
// directory and a store path in it.
func longStore(t *testing.T) (dir, db string) {
	t.Helper()
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	dir = t.TempDir()
	return dir, filepath.Join(dir, "resyn.db")
}

// storeEnv adds the environment src to the store db (accepted, with
// accept), as `resyn envs add` does for a user.
func storeEnv(t *testing.T, db, name, src string, accept bool) {
	t.Helper()
	file := filepath.Join(filepath.Dir(db), name+".star")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{{"envs", "add", "--seeds", "3", file}}
	if accept {
		steps = append(steps, []string{"envs", "accept", name})
	}
	for _, args := range steps {
		if _, errs, code := runResyn(t, db, args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
}

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
	_, db := longStore(t)
	storeEnv(t, db, "loud", loadgen.LoudEnv, false)
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

// startResyn starts the binary with args against db, stderr collected.
func startResyn(t *testing.T, db string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(resynBinary(t), append([]string{"--db", db}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &stderr
}

// waitForBytes waits until a file matching glob holds at least n bytes (a
// measure of work done, not of time; the deadline is a last resort).
func waitForBytes(t *testing.T, glob string, n int64, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		matches, _ := filepath.Glob(glob)
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Size() >= n {
				return
			}
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("%s never reached %d bytes; stderr ends:\n%s", glob, n, stderr.String()[max(0, stderr.Len()-2000):])
}

// peakWatch samples a running process's peak resident memory (VmHWM of
// /proc/PID/status, which counts this process alone: the rusage of a child
// also counts the memory its parent, this test, had when it forked) until
// the returned function is called after the process has ended; it returns
// the largest value read, in MiB.
func peakWatch(pid int) func() int64 {
	var peak atomic.Int64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		re := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`)
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				if m := re.FindSubmatch(b); m != nil {
					v, _ := strconv.ParseInt(string(m[1]), 10, 64)
					peak.Store(max(peak.Load(), v>>10))
				}
			}
			select {
			case <-quit:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		return peak.Load()
	}
}

// stop signals cmd, waits for it, and returns its exit status, its peak
// resident memory in MiB (read just before the signal) and how long it took
// to go.
func stop(t *testing.T, cmd *exec.Cmd, sig os.Signal) (int, int64, time.Duration) {
	t.Helper()
	peak := procStatusKiB(t, cmd.Process.Pid, "VmHWM") >> 10
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), peak, time.Since(start)
}

// peakOf runs resyn to its end and returns its exit status, its peak
// resident memory in MiB (sampled: peakWatch) and its stderr.
func peakOf(t *testing.T, db string, args ...string) (int, int64, string) {
	t.Helper()
	cmd, stderr := startResyn(t, db, args...)
	peak := peakWatch(cmd.Process.Pid)
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), peak(), stderr.String()
}

// gen and export stream: a run of a billion rows writes as it goes, in the
// memory of a run of two thousand, and SIGTERM/SIGINT stops it leaving
// whole lines (gen) or nothing (export), with exit status 130. (They used to
// build every task first, write nothing and be killed by the kernel at 24
// GB.)
func TestGenAndExportStreamAndStop(t *testing.T) {
	dir, db := longStore(t)
	small := filepath.Join(dir, "small.jsonl")
	code, smallPeak, errs := peakOf(t, db, "gen", "--env", "maze", "--n", "2000", "--workers", "2", "--out", small)
	if code != 0 {
		t.Fatalf("gen --n 2000: exit %d\n%s", code, errs)
	}
	out := filepath.Join(dir, "big.jsonl")
	cmd, stderr := startResyn(t, db, "gen", "--env", "maze", "--n", "1000000000", "--workers", "2", "--out", out)
	waitForBytes(t, out, 8<<20, cmd, stderr)
	code, peak, took := stop(t, cmd, syscall.SIGTERM)
	b, _ := os.ReadFile(out)
	rows := jsonLines(t, b)
	t.Logf("gen --n 1e9: %d rows, stopped %v after SIGTERM, peak %d MiB (--n 2000: %d MiB)", rows, took, peak, smallPeak)
	if code != 130 || !strings.Contains(stderr.String(), fmt.Sprintf("interrupted; %s holds the first %d rows, each a complete line", out, rows)) {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, stderr)
	}
	if peak > smallPeak+32 {
		t.Fatalf("gen --n 1e9 peaked at %d MiB, --n 2000 at %d MiB", peak, smallPeak)
	}
	if !bytes.Contains(b, []byte("<answer>")) || bytes.Contains(b, []byte(`\u003c`)) {
		t.Fatalf("prompts are not written with < and > as themselves: %.300s", b)
	}
	if !strings.Contains(stderr.String(), "/s, ") || !strings.Contains(stderr.String(), " left") {
		t.Fatalf("no rate or time left in the progress:\n%.500s", stderr)
	}
	for _, format := range []string{"jsonl", "verl"} {
		target := filepath.Join(dir, "export-"+format)
		_, smallPeak, errs := peakOf(t, db, "export", "--format", format, "--env", "maze,knapsack", "--n", "2000", "--workers", "2", "--out", filepath.Join(dir, "small-"+format))
		cmd, stderr := startResyn(t, db, "export", "--format", format, "--env", "maze,knapsack", "--n", "1000000000", "--test-fraction", "0.1", "--workers", "2", "--out", target)
		if format == "jsonl" {
			waitForBytes(t, filepath.Join(target, ".train.jsonl.*.tmp"), 8<<20, cmd, stderr)
		} else { // a Parquet file grows a row group (about 32 MiB of text) at a time
			waitForBytes(t, filepath.Join(target, ".train.parquet.*.tmp"), 1, cmd, stderr)
		}
		code, peak, took := stop(t, cmd, os.Interrupt)
		t.Logf("export --format %s --n 1e9: stopped %v after SIGINT, peak %d MiB (--n 2000: %d MiB)", format, took, peak, smallPeak)
		if code != 130 || !strings.Contains(stderr.String(), "interrupted; nothing was written to "+target) {
			t.Fatalf("export %s: exit %d after SIGINT; stderr:\n%s\n(--n 2000: %s)", format, code, stderr, errs)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(target)
			t.Fatalf("export %s left %s: %v", format, target, entries)
		}
		if peak > smallPeak+96 {
			t.Fatalf("export %s --n 1e9 peaked at %d MiB, --n 2000 at %d MiB", format, peak, smallPeak)
		}
	}
}

// score streams: the memory of a run over 300,000 lines with a 20 MiB line
// among them is that of a run over 1,000 (and the buffer a line of up to 16
// MiB needs), the long line is skipped and
// named, and every other line is scored. (One line over 16 MiB used to
// abort the run with "bufio.Scanner: token too long", writing nothing.)
func TestScoreStreamsAndSkipsLongLines(t *testing.T) {
	dir, db := longStore(t)
	write := func(name string, n int, longAt int) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for i := 1; i <= n; i++ {
			if i == longAt {
				fmt.Fprintf(w, `{"env":"maze","seed":1,"difficulty":1,"completion":"%s"}`+"\n", strings.Repeat("x", 20<<20))
				continue
			}
			fmt.Fprintf(w, `{"env":"%s","seed":%d,"difficulty":2,"completion":"I think <answer>%d</answer>"}`+"\n", []string{"maze", "graph_coloring", "n_queens"}[i%3], i%500, i%7)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	_, smallPeak, errs := peakOf(t, db, "score", "--in", write("small.jsonl", 1000, 0), "--workers", "2", "--out", filepath.Join(dir, "small.out"))
	out := filepath.Join(dir, "big.out")
	code, peak, errs := peakOf(t, db, "score", "--in", write("big.jsonl", 300_000, 150_000), "--workers", "2", "--out", out)
	b, _ := os.ReadFile(out)
	records := jsonLines(t, b)
	t.Logf("score of 300,000 lines: %d records, peak %d MiB (1,000 lines: %d MiB)", records, peak, smallPeak)
	if code != 1 || records != 299_999 || !strings.Contains(errs, "skipped line 150000: malformed line: 20971574 bytes, longer than the 16 MiB a line may have; skipped") {
		t.Fatalf("exit %d, %d records; stderr:\n%.2000s", code, records, errs)
	}
	if peak > smallPeak+64 { // the long line: a 16 MiB buffer, grown by doubling, and its garbage
		t.Fatalf("score of 300,000 lines peaked at %d MiB, of 1,000 at %d MiB", peak, smallPeak)
	}
	// Interrupted, --out keeps the records of the chunks done, whole lines.
	cut := filepath.Join(dir, "cut.out")
	cmd, stderr := startResyn(t, db, "score", "--in", filepath.Join(dir, "big.jsonl"), "--workers", "2", "--out", cut)
	waitForBytes(t, cut, 1<<20, cmd, stderr)
	code, _, took := stop(t, cmd, os.Interrupt)
	b, _ = os.ReadFile(cut)
	records = jsonLines(t, b)
	t.Logf("score interrupted: %d records, gone %v after SIGINT", records, took)
	if code != 130 || !strings.Contains(stderr.String(), fmt.Sprintf("interrupted; %s holds the records of the first %d scored lines, each a complete line", cut, records)) {
		t.Fatalf("exit %d after SIGINT, %d records; stderr ends:\n%s", code, records, stderr.String()[max(0, stderr.Len()-1000):])
	}
}
