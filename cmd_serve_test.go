package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"resyn/core/export"
	"resyn/core/serve"
)

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	out, errs, code := runResyn(t, db, "export", "--format", "verl", "--env", "graph_coloring,n_queens", "--env-weights", "graph_coloring=3",
		"--difficulty-weights", "1-2=0", "--n", "40", "--test-fraction", "0.25", "--out", filepath.Join(dir, "verl"), "--json")
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, errs)
	}
	var sum export.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Rows != 40 || len(sum.Files) != 2 {
		t.Fatalf("summary %q: %v", out, err)
	}
	count := map[string]int{}
	for _, f := range sum.Files {
		rows, err := parquet.ReadFile[export.VerlRow](f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			count[r.ExtraInfo.Env]++
			if r.ExtraInfo.Difficulty < 3 || r.ExtraInfo.Split != f.Split {
				t.Fatalf("row %+v in %s", r.ExtraInfo, f.Path)
			}
		}
	}
	if count["graph_coloring"] != 30 || count["n_queens"] != 10 {
		t.Fatalf("rows per environment %v, want 30/10 for weights 3:1", count)
	}
	// JSONL into one file; the same flags give the same bytes.
	for _, name := range []string{"a.jsonl", "b.jsonl"} {
		if _, errs, code := runResyn(t, db, "export", "--format", "jsonl", "--env", "n_queens", "--n", "5", "--out", filepath.Join(dir, name)); code != 0 {
			t.Fatalf("jsonl export: %s", errs)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.jsonl"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.jsonl"))
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("\n")) != 5 || !bytes.Contains(a, []byte(`"ground_truth":"{\"resyn\":1,\"env\":\"n_queens\"`)) {
		t.Fatalf("jsonl export:\n%s", a)
	}
	for _, bad := range [][]string{
		{"export", "--format", "csv", "--all", "--out", dir},
		{"export", "--all"},
		{"export", "--all", "--out", dir, "--env-weights", "maze"},
		{"export", "--env", "nope", "--out", dir},
	} {
		if _, errs, code := runResyn(t, db, bad...); code == 0 || errs == "" {
			t.Errorf("resyn %s: exit %d, stderr %q", strings.Join(bad, " "), code, errs)
		}
	}
}

func TestServeRefusesNonLoopbackWithoutToken(t *testing.T) {
	_, errs, code := runResyn(t, filepath.Join(t.TempDir(), "resyn.db"), "serve", "--addr", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errs, "bearer token is required") || !strings.Contains(errs, "RESYN_TOKEN") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// startServe runs `resyn serve` on an ephemeral loopback port and returns
// the process and its base URL, read from its stderr.
func startServe(t *testing.T, db string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(resynBinary(t), append([]string{"--db", db, "serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rd := bufio.NewReader(stderr)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("resyn serve printed %q: %v", line, err)
	}
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("resyn serve printed %q", line)
	}
	rest := new(bytes.Buffer)
	go io.Copy(rest, rd)
	return cmd, m[1], rest
}

// TestServeCommandSIGTERM runs the real binary: it serves a stored
// environment next to the built-ins, and on SIGTERM finishes the request in
// flight before exiting 0.
func TestServeCommandSIGTERM(t *testing.T) {
	_, db := longStore(t)
	storeEnv(t, db, "parity", parityEnv, true)
	cmd, url, stderr := startServe(t, db, "--workers", "2")
	res, err := http.Get(url + "/envs")
	if err != nil {
		t.Fatal(err)
	}
	envs, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(envs), `"name":"parity"`) || !strings.Contains(string(envs), `"name":"graph_coloring"`) {
		t.Fatalf("/envs: %s", envs)
	}
	// A request that is in flight when SIGTERM comes, whatever the
	// machine's speed: its body streams, and the rest of it is sent only
	// after the signal (the server admits items as they arrive).
	var items []serve.Item
	for i := 0; i < 400; i++ {
		name := []string{"sat_3cnf", "n_queens", "parity", "graph_coloring"}[i%4]
		items = append(items, serve.ByInstance(name, int64(i), map[bool]int{true: 5, false: 10}[name == "parity"], "<answer>x</answer>"))
	}
	type answer struct {
		r   []serve.Reward
		err error
	}
	done := make(chan answer, 1)
	body, feed := io.Pipe()
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/score", body)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{nil, err}
			return
		}
		defer res.Body.Close()
		var r serve.Response
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
			done <- answer{nil, fmt.Errorf("status %d: %v", res.StatusCode, err)}
			return
		}
		done <- answer{r.Rewards, nil}
	}()
	item := func(i int) []byte { b, _ := json.Marshal(items[i]); return b }
	fmt.Fprintf(feed, `{"items":[%s`, item(0))
	// The wall clock only as a last resort: the first item is admitted at
	// once.
	inFlight := false
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && !inFlight; {
		time.Sleep(2 * time.Millisecond)
		res, err := http.Get(url + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		inFlight = regexp.MustCompile(`(?m)^resyn_serve_queued_items [1-9]`).Match(b)
	}
	if !inFlight {
		t.Fatal("the request was never seen in flight")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 1; i < len(items); i++ {
			fmt.Fprintf(feed, ",%s", item(i))
		}
		fmt.Fprint(feed, "]}")
		feed.Close()
	}()
	a := <-done
	if a.err != nil || len(a.r) != len(items) {
		t.Fatalf("request in flight at SIGTERM: %d rewards, %v", len(a.r), a.err)
	}
	for i, r := range a.r {
		if r.Kind != "ok" {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resyn serve after SIGTERM: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("stderr: %s", stderr)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("still answering after exit")
	}
}

func TestBenchServeCommand(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	out, errs, code := runResyn(t, filepath.Join(t.TempDir(), "resyn.db"), "bench", "serve", "--batches", "1,16", "--clients", "2", "--duration", "1s", "--max-requests", "40", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Rows []struct {
			Batch, Requests, Scores, Errors int
			PerSec                          float64 `json:"scores_per_s"`
			P99                             float64 `json:"p99_ms"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Rows) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	for _, r := range got.Rows {
		if r.Requests == 0 || r.Requests > 40 || r.Errors != 0 || r.Scores != r.Requests*r.Batch || r.PerSec <= 0 || r.P99 <= 0 {
			t.Errorf("row %+v", r)
		}
	}
}
