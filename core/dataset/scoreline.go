package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"resyn/core/env"
)

// ErrBadLine is what every error of ParseScoreLine wraps.
var ErrBadLine = errors.New("malformed line")

// ParseScoreLine reads one line of `resyn score` input: a JSON object with
// "env" (a non-empty string), "seed" and "difficulty" (integers) and
// "completion" (a string), all required, and optionally "state" (the
// instance as `resyn gen` wrote it; null is the same as absent). Other
// fields are ignored, so lines of `resyn gen` output with a completion
// added score as they are. There are no defaults: the instance depends on
// all three of env, seed and difficulty, and a guessed difficulty would
// score against a different instance without saying so.
func ParseScoreLine(b []byte) (env.ScoreItem, error) {
	var it env.ScoreItem
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return it, fmt.Errorf("%w: not a JSON object", ErrBadLine)
	}
	var raw struct {
		Env        *string         `json:"env"`
		Seed       *int64          `json:"seed"`
		Difficulty *int            `json:"difficulty"`
		State      json.RawMessage `json:"state"`
		Completion *string         `json:"completion"`
	}
	if err := json.Unmarshal(t, &raw); err != nil {
		return it, fmt.Errorf("%w: %v", ErrBadLine, jsonProblem(err))
	}
	var missing []string
	if raw.Env == nil {
		missing = append(missing, `"env"`)
	}
	if raw.Seed == nil {
		missing = append(missing, `"seed"`)
	}
	if raw.Difficulty == nil {
		missing = append(missing, `"difficulty"`)
	}
	if raw.Completion == nil {
		missing = append(missing, `"completion"`)
	}
	if len(missing) > 0 {
		return it, fmt.Errorf("%w: missing %s (every line needs env, seed, difficulty and completion)", ErrBadLine, joinAnd(missing))
	}
	if *raw.Env == "" {
		return it, fmt.Errorf(`%w: "env" is empty`, ErrBadLine)
	}
	it = env.ScoreItem{Env: *raw.Env, Seed: *raw.Seed, Difficulty: *raw.Difficulty, Completion: *raw.Completion}
	if s := bytes.TrimSpace(raw.State); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		it.State = s
	}
	return it, nil
}

// jsonProblem says what was wrong in words a JSONL writer can act on.
func jsonProblem(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Sprintf("%q must be %s, not a JSON %s", typ.Field, kindOf(typ.Type.Kind().String()), typ.Value)
	}
	return "not valid JSON: " + err.Error()
}

func kindOf(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	}
	return k
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 1:
		return xs[0]
	case 2:
		return xs[0] + " and " + xs[1]
	}
	s := ""
	for i, x := range xs {
		switch {
		case i == len(xs)-1:
			s += ", and " + x
		case i > 0:
			s += ", " + x
		default:
			s = x
		}
	}
	return s
}
