package export

import (
	"bytes"
	"encoding/json"
	"fmt"

	"resyn/core/env"
)

// GroundTruthVersion is the version of the ground-truth layout; a reader
// refuses a newer one instead of misreading it.
const GroundTruthVersion = 1

// MaxGroundTruthBytes bounds a ground truth a reader accepts.
const MaxGroundTruthBytes = 4 << 20

// GroundTruth is what a dataset row carries for its reward: enough to
// rebuild the instance (the state, and the seed and difficulty that made it)
// and the version hash of the environment that made it. It travels as a
// JSON string (verl's reward_model.ground_truth is a string).
type GroundTruth struct {
	Version    int             `json:"resyn"`
	Env        string          `json:"env"`
	Seed       int64           `json:"seed"`
	Difficulty int             `json:"difficulty"`
	Hash       string          `json:"env_hash"`
	State      json.RawMessage `json:"state,omitempty"`
}

// String encodes the ground truth as the compact JSON a dataset row holds.
func (g GroundTruth) String() string {
	g.Version = GroundTruthVersion
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		// Only an invalid State can fail, and States come from the runtime's
		// canonical JSON.
		panic(fmt.Sprintf("export: encoding a ground truth: %v", err))
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n"))
}

// ParseGroundTruth decodes a ground truth. It accepts the JSON object itself
// or that object encoded once more as a JSON string (what a trainer that
// re-serialises its columns may send).
func ParseGroundTruth(b []byte) (GroundTruth, error) {
	var g GroundTruth
	if len(b) > MaxGroundTruthBytes {
		return g, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrGroundTruth, len(b), MaxGroundTruthBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return g, fmt.Errorf("%w: %v", ErrGroundTruth, err)
		}
		b = bytes.TrimSpace([]byte(s))
	}
	if len(b) == 0 || b[0] != '{' {
		return g, fmt.Errorf("%w: want a JSON object written by `resyn export`", ErrGroundTruth)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return g, fmt.Errorf("%w: %v", ErrGroundTruth, err)
	}
	switch {
	case g.Version == 0:
		return g, fmt.Errorf("%w: no \"resyn\" version field (not written by `resyn export`)", ErrGroundTruth)
	case g.Version > GroundTruthVersion:
		return g, fmt.Errorf("%w: version %d is newer than this resyn understands (%d); upgrade resyn", ErrGroundTruth, g.Version, GroundTruthVersion)
	case g.Env == "":
		return g, fmt.Errorf("%w: no \"env\"", ErrGroundTruth)
	case g.Hash == "":
		return g, fmt.Errorf("%w: no \"env_hash\" (the environment version it was made with)", ErrGroundTruth)
	}
	if len(g.State) > 0 && string(g.State) == "null" {
		g.State = nil
	}
	return g, nil
}

// Check says whether m is the environment version g was made with: an
// error wrapping ErrEnvChanged names both hashes when it is not.
func (g GroundTruth) Check(m *env.Module) error {
	if m.Name != g.Env {
		return fmt.Errorf("%w: ground truth is for %q, not %q", ErrGroundTruth, g.Env, m.Name)
	}
	if m.Hash != g.Hash {
		return fmt.Errorf("%w: %s was exported at version %s and is now %s; re-export the dataset or serve that version",
			ErrEnvChanged, g.Env, g.Hash, m.Hash)
	}
	return nil
}

// ScoreItem is the item that scores completion against the instance g
// describes: its stored state when it has one (verify only, no generate),
// else the instance rebuilt from (env, seed, difficulty). Call Check first.
func (g GroundTruth) ScoreItem(completion string) env.ScoreItem {
	return env.ScoreItem{Env: g.Env, Seed: g.Seed, Difficulty: g.Difficulty, State: g.State, Completion: completion}
}
