package synth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/storage"

	"github.com/spf13/pflag"
)

// Closing the loop: a training run's stored metrics say, per environment,
// whether its pass rate saturated at its top level (it has nothing left to
// teach) or stayed at zero at its bottom level (it gives no signal); a
// synthesis run with Config.FromRun asks the model to harden or replace
// exactly those environments, with their code and pass-rate curve in the
// request, and stores the new versions as candidates linked to the
// training run.

// Signals of a pass-rate curve (EnvSignal.Signal).
const (
	SignalSaturated = "saturated" // at its highest level it passes nearly always: harden it
	SignalZero      = "zero"      // at its lowest level it never passes: replace it
)

// SignalOptions say when a curve flags an environment. Zero fields take the
// defaults listed.
type SignalOptions struct {
	// Window is how many of the environment's last training steps are
	// looked at; default 10. A curve with fewer flags nothing.
	Window int `json:"window,omitempty"`
	// High: saturated when every step of the window is at the top level
	// and their mean pass rate is at least High; default 0.9.
	High float64 `json:"high,omitempty"`
	// Low: zero when the curve never left the bottom level and every pass
	// rate of the window is at most Low; default 0 (no pass at all).
	Low float64 `json:"low,omitempty"`
}

func (o SignalOptions) withDefaults() SignalOptions {
	if o.Window <= 0 {
		o.Window = 10
	}
	if o.High <= 0 {
		o.High = 0.9
	}
	return o
}

// CurvePoint is one training step of one environment: the curriculum's
// level and the share of its completions that passed.
type CurvePoint struct {
	Step     int64   `json:"step"`
	Level    int     `json:"level"`
	PassRate float64 `json:"pass_rate"`
}

// EnvSignal is what one environment's pass-rate curve in a training run
// says.
type EnvSignal struct {
	Env           string       `json:"env"`
	Hash          string       `json:"hash,omitempty"` // the version the run used (its last one)
	MinDifficulty int          `json:"min_difficulty"`
	MaxDifficulty int          `json:"max_difficulty"`
	Curve         []CurvePoint `json:"curve"`
	Signal        string       `json:"signal,omitempty"` // SignalSaturated, SignalZero, or "" for neither
	Since         int64        `json:"since,omitempty"`  // the first step of the window that flagged it
	Level         int          `json:"level"`            // the level at the end of the curve
	Recent        float64      `json:"recent"`           // the mean pass rate over the window
	Reason        string       `json:"reason"`           // the verdict in words
}

// TrainingSignals reads training run runID's per-environment pass rates and
// levels from its stored metrics (the trainer's "pass_rate" and "level"
// points) and flags each environment by o. Environments come from the run's
// lineage (storage.TrainRun.Envs), or for runs stored before it was kept,
// from its configuration. The result is sorted by name.
func TrainingSignals(tx *storage.Tx, runID uint64, o SignalOptions) ([]EnvSignal, error) {
	o = o.withDefaults()
	run, err := storage.GetTrainRun(tx, runID)
	if err != nil {
		return nil, err
	}
	versions := lastVersions(run)
	if len(versions) == 0 {
		return nil, fmt.Errorf("training run %d records no environments", runID)
	}
	points, err := storage.ListMetrics(tx, runID, 0)
	if err != nil {
		return nil, err
	}
	pass := map[string][]CurvePoint{}
	level := map[int64]map[string]float64{}
	for _, p := range points {
		switch p.Name {
		case "level":
			level[p.Step] = p.PerEnv
		case "pass_rate":
			for name, v := range p.PerEnv {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					pass[name] = append(pass[name], CurvePoint{Step: p.Step, PassRate: v})
				}
			}
		}
	}
	var out []EnvSignal
	for _, v := range versions {
		s := EnvSignal{Env: v.Name, Hash: v.Hash, MinDifficulty: v.MinDifficulty, MaxDifficulty: v.MaxDifficulty, Level: v.MinDifficulty}
		for _, cp := range pass[v.Name] {
			cp.Level = v.MinDifficulty
			if l, ok := level[cp.Step][v.Name]; ok {
				cp.Level = int(l)
			}
			s.Curve = append(s.Curve, cp)
		}
		s.judge(o)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

// lastVersions is each environment's last version in a run's lineage, in
// the order first used; for an older record, the environments of its
// configuration (the trainer's {"grpo":{"envs":[…]}}), without hashes.
func lastVersions(run storage.TrainRun) []storage.EnvVersion {
	var out []storage.EnvVersion
	at := map[string]int{}
	for _, v := range run.Envs {
		if i, ok := at[v.Name]; ok {
			out[i] = v
			continue
		}
		at[v.Name] = len(out)
		out = append(out, v)
	}
	if len(out) > 0 {
		return out
	}
	var info struct {
		GRPO struct {
			Envs []struct {
				Name          string `json:"name"`
				MinDifficulty int    `json:"min_difficulty"`
				MaxDifficulty int    `json:"max_difficulty"`
			} `json:"envs"`
		} `json:"grpo"`
	}
	if json.Unmarshal(run.Config, &info) == nil {
		for _, e := range info.GRPO.Envs {
			out = append(out, storage.EnvVersion{Name: e.Name, MinDifficulty: e.MinDifficulty, MaxDifficulty: e.MaxDifficulty})
		}
	}
	return out
}

// judge sets the signal of a curve.
func (s *EnvSignal) judge(o SignalOptions) {
	n := len(s.Curve)
	if n == 0 {
		s.Reason = "no training step with it"
		return
	}
	s.Level = s.Curve[n-1].Level
	w := min(o.Window, n)
	win := s.Curve[n-w:]
	s.Since = win[0].Step
	top, bottom, sum, most := true, true, 0.0, 0.0
	for _, p := range win {
		top = top && p.Level >= s.MaxDifficulty
		sum += p.PassRate
		most = max(most, p.PassRate)
	}
	for _, p := range s.Curve {
		bottom = bottom && p.Level <= s.MinDifficulty
	}
	s.Recent = sum / float64(w)
	span := fmt.Sprintf("over its last %d training steps (from step %d)", w, s.Since)
	switch {
	case n < o.Window:
		s.Reason = fmt.Sprintf("only %d training steps with it (%d needed to judge); at level %d of %d–%d, pass rate %.2f",
			n, o.Window, s.Level, s.MinDifficulty, s.MaxDifficulty, s.Recent)
	case top && s.Recent >= o.High:
		s.Signal = SignalSaturated
		s.Reason = fmt.Sprintf("saturated: pass rate %.2f %s at level %d, its highest", s.Recent, span, s.MaxDifficulty)
	case bottom && most <= o.Low:
		s.Signal = SignalZero
		s.Reason = fmt.Sprintf("stays at zero: pass rate %s %s at level %d, its lowest, which it never left", trimFloat(most), span, s.MinDifficulty)
	default:
		s.Reason = fmt.Sprintf("learning: at level %d of %d–%d, pass rate %.2f %s", s.Level, s.MinDifficulty, s.MaxDifficulty, s.Recent, span)
	}
}

func trimFloat(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Revision is one environment a run that closes the loop hardens
// (SignalSaturated) or replaces (SignalZero): what the model is told, and
// the name of the new version, which is stored beside the old one.
type Revision struct {
	Env        string    `json:"env"`  // the environment flagged
	Hash       string    `json:"hash"` // its version in the training run
	Name       string    `json:"name"` // the new version's NAME: Env_v2, Env_v3, …
	TrainRun   uint64    `json:"train_run"`
	Signal     EnvSignal `json:"signal"`
	Source     string    `json:"source"`                // its code as the run used it
	SourceNote string    `json:"source_note,omitempty"` // set when that version's code is gone and the current one is sent
}

// Parent is the version the revision replaces, as storage.Origin.Parent
// records it: "name@hash".
func (r Revision) Parent() string { return r.Env + "@" + r.Hash }

// PlanRevisions reads training run runID's signals and makes one Revision
// for every flagged environment, with the code of the version the run used
// (a built-in or a stored revision of that hash) and a free name for the new
// version. It returns every signal too, flagged or not, for the message
// when nothing is flagged.
func PlanRevisions(db *storage.DB, runID uint64, o SignalOptions) ([]Revision, []EnvSignal, error) {
	var revs []Revision
	var sigs []EnvSignal
	err := db.View(func(tx *storage.Tx) error {
		var err error
		if sigs, err = TrainingSignals(tx, runID, o); err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, s := range sigs {
			if s.Signal == "" {
				continue
			}
			src, note, err := sourceOf(tx, s.Env, s.Hash)
			if err != nil {
				return err
			}
			name, err := nextVersionName(tx, s.Env, taken)
			if err != nil {
				return err
			}
			taken[name] = true
			revs = append(revs, Revision{Env: s.Env, Hash: s.Hash, Name: name, TrainRun: runID, Signal: s, Source: src, SourceNote: note})
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: training run %d (resyn train runs lists them)", ErrRunNotFound, runID)
	}
	return revs, sigs, err
}

// sourceOf finds the code of an environment's version hash: the built-in,
// or the stored revision with that hash; failing both, the current code
// with a note saying so.
func sourceOf(tx *storage.Tx, name, hash string) (src, note string, err error) {
	bi, builtin := envlib.Get(name)
	if builtin && env.SourceHash(bi.Code) == hash {
		return string(bi.Code), "", nil
	}
	hist, err := storage.EnvHistory(tx, name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", "", err
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if env.SourceHash([]byte(hist[i].Source)) == hash {
			return hist[i].Source, "", nil
		}
	}
	switch {
	case len(hist) > 0:
		src = hist[len(hist)-1].Source
	case builtin:
		src = string(bi.Code)
	default:
		return "", "", fmt.Errorf("environment %s, used by the training run, is neither built in nor stored", name)
	}
	return src, fmt.Sprintf("the code of version %s is no longer stored; this is the current version, %s", hash, env.SourceHash([]byte(src))), nil
}

var versionSuffixRe = regexp.MustCompile(`_v[0-9]+$`)

// nextVersionName is the first of base_v2, base_v3, … that no built-in,
// stored environment or other revision of this run has, base being name
// without a version suffix of its own.
func nextVersionName(tx *storage.Tx, name string, taken map[string]bool) (string, error) {
	base := versionSuffixRe.ReplaceAllString(name, "")
	for k := 2; k < 10_000; k++ {
		suffix := fmt.Sprintf("_v%d", k)
		b := base
		if len(b)+len(suffix) > 48 {
			b = strings.TrimRight(b[:48-len(suffix)], "_")
		}
		cand := b + suffix
		if taken[cand] {
			continue
		}
		if _, ok := envlib.Get(cand); ok {
			continue
		}
		if _, err := storage.GetEnv(tx, cand); err == nil {
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
		return cand, nil
	}
	return "", fmt.Errorf("no free version name for %s", name)
}

// revisionIdeas are the candidates of a run that closes the loop.
func revisionIdeas(revs []Revision) []Idea {
	out := make([]Idea, 0, len(revs))
	for i := range revs {
		rev := revs[i]
		what := "A harder version of " + rev.Env
		if rev.Signal.Signal == SignalZero {
			what = "A replacement for " + rev.Env
		}
		out = append(out, Idea{Name: rev.Name, Category: "revision",
			Description: fmt.Sprintf("%s (training run %d: %s).", what, rev.TrainRun, rev.Signal.Reason), Revise: &rev})
	}
	return out
}

// maxCurveRows bounds the curve a request shows: evenly spaced steps, the
// first and the last always among them.
const maxCurveRows = 40

// RevisePrompt is the user message that asks for a new version of a
// flagged environment: what the training run saw (the pass-rate curve and
// the signal), what to do about it, and the environment's code.
func RevisePrompt(rev Revision) string {
	s := rev.Signal
	var b strings.Builder
	fmt.Fprintf(&b, "The environment %q (version %s) was used to train a model with reinforcement learning (training run %d).\n", rev.Env, rev.Hash, rev.TrainRun)
	fmt.Fprintf(&b, "Its pass rate at each training step (the share of the model's answers its verifier scored 1), at the difficulty level the curriculum had reached (its range is %d–%d):\n\n", s.MinDifficulty, s.MaxDifficulty)
	b.WriteString("step  level  pass rate\n")
	for _, p := range sampleCurve(s.Curve, maxCurveRows) {
		fmt.Fprintf(&b, "%4d  %5d  %9.2f\n", p.Step, p.Level, p.PassRate)
	}
	b.WriteString("\n")
	switch s.Signal {
	case SignalSaturated:
		fmt.Fprintf(&b, "The pass rate saturated: %.2f on average from step %d on, at level %d, the environment's highest. The model has learned what it can teach.\n\n", s.Recent, s.Since, s.MaxDifficulty)
		b.WriteString("Write a harder version of the same task: keep the kind of reasoning and an exact verifier, and make the higher levels demand more of it (larger or more constrained instances, more steps, fewer hints), extending DIFFICULTY where that helps, so that the top level is out of the model's reach today while the lowest level stays solvable.\n")
	case SignalZero:
		fmt.Fprintf(&b, "The pass rate stayed at zero: from step %d on the model never passed, at level %d, the environment's lowest, which the curriculum never left. The environment gives no learning signal.\n\n", s.Since, s.MinDifficulty)
		b.WriteString("First make sure it is not broken: verify must accept every correct answer in any reasonable form, the prompt must state the task and the exact answer format, and solve's answers must pass. Then write a replacement for the same skill whose lowest levels a model starting out can solve, rising from there.\n")
	}
	fmt.Fprintf(&b, "\nIts code:\n\n```python\n%s```\n", strings.TrimRight(rev.Source, "\n")+"\n")
	if rev.SourceNote != "" {
		fmt.Fprintf(&b, "(Note: %s.)\n", rev.SourceNote)
	}
	fmt.Fprintf(&b, "\nWrite the new version as a new environment beside the old one, with NAME = %q. Reply with the whole module in one ```python fenced block.", rev.Name)
	return b.String()
}

// sampleCurve picks at most n points of a curve, evenly spaced, keeping
// the first and the last.
func sampleCurve(c []CurvePoint, n int) []CurvePoint {
	if len(c) <= n || n < 2 {
		return c
	}
	out := make([]CurvePoint, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, c[i*(len(c)-1)/(n-1)])
	}
	return out
}

// AddFlags defines --signal-window and --saturation on fs (resyn synth
// --from-run, resyn train signals), with the defaults TrainingSignals uses.
func (o *SignalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Window, "signal-window", 10, "training steps at the end of a pass-rate curve that decide whether it saturated or stayed at zero")
	fs.Float64Var(&o.High, "saturation", 0.9, "mean pass rate over the window, at the top level, that counts as saturated")
}

// CheckFlags refuses a window or saturation the flags cannot mean.
func (o SignalOptions) CheckFlags() error {
	if o.Window < 1 {
		return fmt.Errorf("--signal-window %d: must be at least 1 (training steps)", o.Window)
	}
	if !(o.High > 0 && o.High <= 1) {
		return fmt.Errorf("--saturation %v: must be a pass rate in (0, 1]", o.High)
	}
	return nil
}
