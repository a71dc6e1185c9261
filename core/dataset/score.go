package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"resyn/core/env"
)

// ScoredLine is the record `resyn score` writes for each input line.
type ScoredLine struct {
	Line       int    `json:"line"`
	Env        string `json:"env"`
	Seed       int64  `json:"seed"`
	Difficulty int    `json:"difficulty"`
	EnvHash    string `json:"env_hash,omitempty"` // the version that scored it (lineage; with a Hasher executor)
	env.Reward
}

// EnvSummary aggregates the rewards of one environment.
type EnvSummary struct {
	Env       string  `json:"env"`
	N         int     `json:"n"`
	MeanScore float64 `json:"mean_score"` // over ok and format results; env errors are excluded
	Pass      int     `json:"pass"`       // score == 1
	OK        int     `json:"ok"`
	Format    int     `json:"format"`
	EnvError  int     `json:"env_error"`
	Timeout   int     `json:"timeout"`
}

// LineError is a malformed input line.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// MaxLineBytes bounds one JSONL line of completions; a longer line is
// skipped and reported like any malformed line.
const MaxLineBytes = 16 << 20

// Score holds at most scoreChunkItems lines, or scoreChunkBytes of
// completions and states, before it scores them: its memory does not grow
// with the input.
const (
	scoreChunkItems = 4096
	scoreChunkBytes = 64 << 20
)

// Score reads JSONL items (env, seed, difficulty, completion, all
// required; optionally state: ParseScoreLine) from r, scores them through
// ex in chunks, and writes one ScoredLine per valid input line to w, in
// input order, a chunk at a time. Malformed lines (and lines longer than
// MaxLineBytes) go to onBad and the rest is still scored. It returns the
// per-environment summaries, sorted by name. When r is a regular file its
// size is Progress.TotalBytes.
//
// When ctx is cancelled Score returns ctx.Err(): the records written before
// are whole lines, and the chunk being scored is not written (its rewards
// would say "cancelled", which is no reward).
func Score(ctx context.Context, ex env.Executor, r io.Reader, w io.Writer, onBad func(LineError), progress func(Progress)) ([]EnvSummary, error) {
	lr := newLineReader(r, MaxLineBytes)
	enc := NewEncoder(w)
	sums := map[string]*EnvSummary{}
	var items []env.ScoreItem
	var lines []int
	held := 0 // bytes of completions and states in items
	start := time.Now()
	p := Progress{}
	if st, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() {
			p.TotalBytes = fi.Size()
		}
	}
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		rewards := env.ScoreCompletions(ctx, ex, items)
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, rw := range rewards {
			it := items[i]
			if err := enc.Encode(ScoredLine{Line: lines[i], Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, EnvHash: envHash(ex, it.Env), Reward: CapReward(rw)}); err != nil {
				return err
			}
			s := sums[it.Env]
			if s == nil {
				s = &EnvSummary{Env: it.Env}
				sums[it.Env] = s
			}
			s.add(rw)
		}
		p.Done += len(items)
		p.Bytes, p.Elapsed = lr.read, time.Since(start)
		if progress != nil {
			progress(p)
		}
		clear(items) // drop the completions now, not when they are overwritten
		items, lines, held = items[:0], lines[:0], 0
		return nil
	}
	for {
		b, n, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if long > 0 {
			p.Failed++
			onBad(LineError{n, fmt.Errorf("%w: %d bytes, longer than the %d MiB a line may have; skipped", ErrBadLine, long, MaxLineBytes>>20)})
			continue
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		it, err := ParseScoreLine(b)
		if err != nil {
			p.Failed++
			onBad(LineError{n, err})
			continue
		}
		items = append(items, it)
		lines = append(lines, n)
		held += len(it.Completion) + len(it.State)
		if len(items) == scoreChunkItems || held >= scoreChunkBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	var out []EnvSummary
	for _, s := range sums {
		if d := s.OK + s.Format; d > 0 {
			s.MeanScore /= float64(d)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

func (s *EnvSummary) add(rw env.Reward) {
	s.N++
	switch rw.Kind {
	case env.KindOK:
		s.OK++
		s.MeanScore += rw.Score
		if rw.Score == 1 {
			s.Pass++
		}
	case env.KindFormat:
		s.Format++
	case env.KindEnvError:
		s.EnvError++
	case env.KindTimeout:
		s.Timeout++
	}
}

// lineReader reads lines of at most max bytes (without the "\n" and a "\r"
// before it, as bufio.ScanLines does). A longer line is not kept: it is read
// through to its end and reported by its length, so that one huge line
// costs no more memory than max and the lines after it are still read.
type lineReader struct {
	r    *bufio.Reader
	max  int
	buf  []byte
	line int   // number of the last line returned
	read int64 // bytes consumed
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line and its number; for a line longer than max,
// b is nil and long is its length. err is io.EOF after the last line.
func (l *lineReader) next() (b []byte, n int, long int64, err error) {
	l.buf = l.buf[:0]
	var size int64
	for {
		frag, err := l.r.ReadSlice('\n')
		size += int64(len(frag))
		l.read += int64(len(frag))
		if long == 0 && len(l.buf)+len(frag) > l.max+2 { // +2: the "\r\n" is not part of the line
			long = 1
			l.buf = l.buf[:0]
		}
		if long == 0 {
			l.grow(len(frag))
			l.buf = append(l.buf, frag...)
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && size > 0:
		default:
			return nil, l.line + 1, 0, err
		}
		l.line++
		if long > 0 {
			if err == nil {
				size-- // the "\n"
			}
			return nil, l.line, size, nil
		}
		b = bytes.TrimSuffix(l.buf, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) > l.max {
			return nil, l.line, int64(len(b)), nil
		}
		return b, l.line, 0, nil
	}
}

// NewEncoder writes JSON lines as resyn writes every JSONL file: one value
// per line, with <, > and & as themselves (encoding/json would write
// \u003c…, and prompts and answers are full of <answer> tags).
func NewEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// grow makes room for n more bytes by doubling (append grows a large slice
// by a quarter at a time, leaving about four times its size in garbage on
// the way to 16 MiB), never past the longest line plus one read.
func (l *lineReader) grow(n int) {
	if len(l.buf)+n <= cap(l.buf) {
		return
	}
	c := min(max(2*cap(l.buf), len(l.buf)+n, 64<<10), l.max+2+n)
	b := make([]byte, len(l.buf), c)
	copy(b, l.buf)
	l.buf = b
}

// MaxErrorBytes bounds the error text of a reward where resyn writes one
// (score's output, the reward server's replies): a verifier can raise with
// megabytes of message, and a reply of 4096 such items would be gigabytes.
const MaxErrorBytes = 2048

// CapReward returns rw with its error text cut to MaxErrorBytes (CapText).
func CapReward(rw env.Reward) env.Reward {
	rw.Error = CapText(rw.Error, MaxErrorBytes)
	return rw
}

// CapText cuts s to at most max bytes (at a UTF-8 boundary), saying how
// much was cut: "… (123456 more bytes)".
func CapText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const room = 32 // for the note
	cut := max - room
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}
