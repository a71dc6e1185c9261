package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/core/env"
)

// countingPlan is a plan of n tasks that records how far ahead of the rows
// written its tasks were asked for: the tasks (and their results) held at
// once.
type countingPlan struct {
	n int

	mu      sync.Mutex
	asked   int // tasks asked for so far
	emitted int // rows emitted so far
	ahead   int // most tasks asked for and not yet emitted
}

func (p *countingPlan) Len() int { return p.n }

func (p *countingPlan) Task(i int) env.Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i != p.asked {
		panic(fmt.Sprintf("task %d asked for after %d", i, p.asked))
	}
	p.asked++
	p.ahead = max(p.ahead, p.asked-p.emitted)
	return env.Task{Env: "e", Seed: int64(i)}
}

func (p *countingPlan) emit(i int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i != p.emitted {
		return fmt.Errorf("row %d emitted after %d rows", i, p.emitted)
	}
	p.emitted++
	return nil
}

// echoExec answers every task at once with a prompt naming its seed; when
// cancelIn > 0, the cancelIn-th call cancels ctx and answers "cancelled"
// as the pool does.
type echoExec struct {
	calls    int
	cancelIn int
	cancel   context.CancelFunc
}

func (echoExec) Register(*env.Module) {}
func (echoExec) Close() error         { return nil }
func (e *echoExec) Run(ctx context.Context, tasks []env.Task) []env.Result {
	e.calls++
	out := make([]env.Result, len(tasks))
	if e.calls == e.cancelIn {
		e.cancel()
		for i, t := range tasks {
			out[i].Err = &env.Error{Kind: env.FailWorker, Env: t.Env, Msg: "cancelled: " + context.Canceled.Error()}
		}
		return out
	}
	for i, t := range tasks {
		out[i] = env.Result{Prompt: fmt.Sprint("p", t.Seed), State: []byte("{}")}
	}
	return out
}

// A plan of 2^40 instances costs no more than three chunks: Generate asks
// for a task at most three chunks ahead of the rows it has written, and
// stops when its context is cancelled.
func TestGenerateHoldsAtMostThreeChunks(t *testing.T) {
	plan := &countingPlan{n: 1 << 40}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const stopAt = 10 * Chunk
	var progressed []Progress
	err := Generate(ctx, &echoExec{}, plan,
		func(i int, task env.Task, r env.Result) error {
			if r.Prompt != fmt.Sprint("p", task.Seed) || task.Seed != int64(i) {
				return fmt.Errorf("row %d: task %+v, result %+v", i, task, r)
			}
			if i == stopAt-1 {
				cancel() // what SIGINT does
			}
			return plan.emit(i)
		},
		func(i int, _ env.Task, e *env.Error) { t.Errorf("instance %d reported as failed: %v", i, e) },
		func(p Progress) { progressed = append(progressed, p) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate returned %v, want context.Canceled", err)
	}
	if plan.ahead > 3*Chunk || plan.asked > plan.emitted+3*Chunk {
		t.Fatalf("asked for %d tasks, at most %d ahead of %d rows written; want at most %d ahead", plan.asked, plan.ahead, plan.emitted, 3*Chunk)
	}
	if plan.emitted < stopAt {
		t.Fatalf("%d rows written before the stop at %d", plan.emitted, stopAt)
	}
	if len(progressed) == 0 || progressed[0].Done != Chunk || progressed[0].Total != 1<<40 {
		t.Fatalf("progress %+v", progressed)
	}
}

// The chunk under way when the run is cancelled is dropped: its
// "cancelled" results are not failures of the environment.
func TestGenerateDropsTheCancelledChunk(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ex := &echoExec{cancelIn: 2, cancel: cancel}
	rows := 0
	err := Generate(ctx, ex, Spec{Envs: []*env.Module{{Name: "e", MinDifficulty: 1, MaxDifficulty: 3}}, N: 5 * Chunk, MaxDifficulty: 10},
		func(int, env.Task, env.Result) error { rows++; return nil },
		func(i int, _ env.Task, e *env.Error) { t.Errorf("instance %d reported as failed: %v", i, e) }, nil)
	if !errors.Is(err, context.Canceled) || rows != Chunk {
		t.Fatalf("err %v after %d rows; want context.Canceled after the first chunk (%d)", err, rows, Chunk)
	}
}

// A write error ends the run with that error, and the runner stops.
func TestGenerateStopsOnAWriteError(t *testing.T) {
	plan := &countingPlan{n: 1 << 30}
	full := errors.New("disk full")
	err := Generate(context.Background(), &echoExec{}, plan,
		func(i int, _ env.Task, _ env.Result) error {
			if i == 5 {
				return full
			}
			return plan.emit(i)
		}, nil, nil)
	if !errors.Is(err, full) || plan.asked > 3*Chunk {
		t.Fatalf("err %v with %d tasks asked for", err, plan.asked)
	}
}

func TestSpecPlan(t *testing.T) {
	a := &env.Module{Name: "a", MinDifficulty: 1, MaxDifficulty: 10, HasSolve: true}
	b := &env.Module{Name: "b", MinDifficulty: 5, MaxDifficulty: 6}
	s := Spec{Envs: []*env.Module{a, b}, N: 4, Seed: 10, MinDifficulty: 2, MaxDifficulty: 3, Solve: true}
	if err := s.Check(); err != nil || s.Len() != 8 {
		t.Fatalf("check %v, len %d", err, s.Len())
	}
	var got []string
	for i := range s.Len() {
		tk := s.Task(i)
		got = append(got, fmt.Sprintf("%s/%d/%d/%v", tk.Env, tk.Seed, tk.Difficulty, tk.Solve))
	}
	want := "a/10/2/true a/11/3/true a/12/2/true a/13/3/true b/10/5/false b/11/6/false b/12/5/false b/13/6/false"
	if strings.Join(got, " ") != want {
		t.Fatalf("tasks\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	for _, bad := range []Spec{
		{Envs: []*env.Module{a}, N: 0},
		{N: 3},
		{Envs: []*env.Module{a, b}, N: 1 << 62},
		{Envs: []*env.Module{a}, N: 2, Seed: 1<<63 - 1},
		{Envs: []*env.Module{a}, N: 2, MinDifficulty: 3, MaxDifficulty: 2},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestProgressRateAndTimeLeft(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{Done: 2048, Total: 10240, Elapsed: 2 * time.Second}, "generated 2048/10240 (0 failed), 1024/s, 8s left"},
		{Progress{Done: 5, Failed: 1, Elapsed: 2 * time.Second}, "generated 5 (1 failed), 2.5/s"},
		{Progress{Done: 100, Bytes: 1 << 20, TotalBytes: 4 << 20, Elapsed: time.Minute}, "generated 100 (0 failed), 1.7/s, 3m0s left"},
		{Progress{Done: 1, Total: 1000000, Elapsed: time.Second}, "generated 1/1000000 (0 failed), 1.0/s, 277h47m left"},
		{Progress{Done: 10, Total: 10, Elapsed: time.Second}, "generated 10/10 (0 failed), 10/s, 0s left"},
		{Progress{}, "generated 0 (0 failed), 0.0/s"},
	} {
		if got := c.p.Line("generated"); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

// sizedExec scores every answer 0 and records the largest call it got, in
// answers and in bytes of answers and states.
type sizedExec struct {
	mostAnswers, mostBytes int
	err                    string // when set, every verify fails with it
}

func (*sizedExec) Register(*env.Module) {}
func (*sizedExec) Close() error         { return nil }
func (s *sizedExec) Run(_ context.Context, tasks []env.Task) []env.Result {
	out := make([]env.Result, len(tasks))
	n, answers := 0, 0
	for i, t := range tasks {
		answers += len(t.Answers)
		n += len(t.State)
		out[i].Scores = make([]env.Score, len(t.Answers))
		for k, a := range t.Answers {
			n += len(a)
			if s.err != "" {
				out[i].Scores[k].Err = &env.Error{Kind: env.FailRuntime, Env: t.Env, Func: "verify", Msg: s.err}
			}
		}
	}
	s.mostAnswers, s.mostBytes = max(s.mostAnswers, answers), max(s.mostBytes, n)
	return out
}

func scoreLine(seed int, completion string) string {
	return fmt.Sprintf(`{"env":"e","seed":%d,"difficulty":1,"completion":%q}`, seed, completion)
}

// A line over MaxLineBytes is skipped and named like any malformed line;
// the lines before and after it are scored, one as long as the limit too.
func TestScoreSkipsOversizeLines(t *testing.T) {
	atLimit := scoreLine(4, "<answer>")
	atLimit = scoreLine(4, "<answer>"+strings.Repeat("y", MaxLineBytes-len(atLimit)-len("</answer>"))+"</answer>")
	if len(atLimit) != MaxLineBytes {
		t.Fatalf("line of %d bytes", len(atLimit))
	}
	in := scoreLine(1, "<answer>a</answer>") + "\n" +
		scoreLine(2, strings.Repeat("x", MaxLineBytes)) + "\n" +
		scoreLine(3, "<answer>b</answer>") + "\r\n" +
		atLimit + "\r\n" +
		strings.Repeat("z", 3*MaxLineBytes) // no newline at the end
	var out bytes.Buffer
	var bad []LineError
	sums, err := Score(context.Background(), &sizedExec{}, strings.NewReader(in), &out, func(e LineError) { bad = append(bad, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 5 || !errors.Is(bad[0].Err, ErrBadLine) ||
		!strings.Contains(bad[0].Error(), "longer than the 16 MiB a line may have; skipped") {
		t.Fatalf("bad lines %v", bad)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		lines = append(lines, l[:strings.Index(l, ",")])
	}
	if strings.Join(lines, " ") != `{"line":1 {"line":3 {"line":4` || len(sums) != 1 || sums[0].N != 3 {
		t.Fatalf("records %v, sums %+v", lines, sums)
	}
}

// endless is n lines of scoring input made on the fly by line(i).
type endless struct {
	n, i int
	line func(i int) string
	buf  []byte
}

func (e *endless) Read(p []byte) (int, error) {
	for len(e.buf) == 0 {
		if e.i == e.n {
			return 0, io.EOF
		}
		e.buf = append(e.buf, e.line(e.i)...)
		e.i++
	}
	k := copy(p, e.buf)
	e.buf = e.buf[k:]
	return k, nil
}

// Score holds a bounded chunk whatever the input: at most 4096 lines and
// about 64 MiB of completions and states are scored at once.
func TestScoreChunksAreBounded(t *testing.T) {
	ex := &sizedExec{}
	state := strings.Repeat("q", 1<<20)
	big := func(i int) string { // distinct instances, each with 1 MiB of state
		return fmt.Sprintf(`{"env":"e","seed":%d,"difficulty":1,"completion":"<answer>1</answer>","state":{"s":"%s"}}`+"\n", i, state)
	}
	if _, err := Score(context.Background(), ex, &endless{n: 80, line: big}, io.Discard, func(e LineError) { t.Fatal(e) }, nil); err != nil {
		t.Fatal(err)
	}
	if ex.mostBytes > scoreChunkBytes+len(big(0)) {
		t.Fatalf("%d bytes of states scored at once; want at most %d", ex.mostBytes, scoreChunkBytes+len(big(0)))
	}
	small := &sizedExec{}
	var out countingWriter
	if _, err := Score(context.Background(), small, &endless{n: 10000, line: func(int) string { return scoreLine(1, "<answer>1</answer>") + "\n" }}, &out, nil, nil); err != nil {
		t.Fatal(err)
	}
	if small.mostAnswers != scoreChunkItems || out.lines != 10000 {
		t.Fatalf("%d answers at once, %d records; want %d at once", small.mostAnswers, out.lines, scoreChunkItems)
	}
}

type countingWriter struct{ lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// When the run is cancelled, the chunk being scored is not written: its
// rewards would be "cancelled" env errors, not rewards.
func TestScoreDoesNotWriteTheCancelledChunk(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	in := strings.Repeat(scoreLine(1, "<answer>1</answer>")+"\n", 10)
	_, err := Score(ctx, &echoExec{cancelIn: 1, cancel: cancel}, strings.NewReader(in), &out, nil, nil)
	if !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Fatalf("err %v, wrote %q", err, out.String())
	}
}

// Records carry <answer> as itself, and a verifier's huge error text is cut.
func TestScoreRecordsAreReadable(t *testing.T) {
	var out bytes.Buffer
	in := scoreLine(1, "no tags") + "\n" + scoreLine(2, "<answer>a&b</answer>") + "\n"
	ex := &sizedExec{err: "raised: " + strings.Repeat("é", 2<<20)}
	if _, err := Score(context.Background(), ex, strings.NewReader(in), &out, nil, nil); err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(recs) != 2 || !strings.Contains(recs[0], `"error":"no <answer>`) || !strings.Contains(recs[1], `"answer":"a&b"`) {
		t.Fatalf("records:\n%s", out.String()[:min(out.Len(), 500)])
	}
	if len(recs[1]) > MaxErrorBytes+200 || !strings.Contains(recs[1], "more bytes)") {
		t.Fatalf("record of %d bytes: %.300s", len(recs[1]), recs[1])
	}
}

func TestCapText(t *testing.T) {
	if got := CapText("short", 100); got != "short" {
		t.Fatal(got)
	}
	s := strings.Repeat("é", 1000) // 2000 bytes
	got := CapText(s, 100)
	if len(got) > 100+40 || !strings.HasSuffix(got, "… (1932 more bytes)") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("%q", got)
	}
	if !strings.Contains(strings.ToValidUTF8(got, "\ufffd"), "é…") || strings.Contains(strings.ToValidUTF8(got, "?"), "?") {
		t.Fatalf("cut inside a character: %q", got)
	}
}
