package synth

import (
	"time"

	"resyn/core/validate"
	"resyn/llm"
)

// Idea is one task idea: what an environment should be.
type Idea struct {
	Name        string `json:"name"` // a slug, [a-z0-9_]+; becomes the module's NAME
	Category    string `json:"category,omitempty"`
	Seed        string `json:"seed,omitempty"` // the seed keyword it was proposed for (Config.Seeds)
	Description string `json:"description"`
	// Revise, for a run that closes the loop (Config.FromRun), is the
	// environment this idea hardens or replaces; nil for a fresh idea.
	Revise *Revision `json:"revise,omitempty"`
}

// DroppedIdea is an idea ideation threw away, and why.
type DroppedIdea struct {
	Idea       Idea    `json:"idea"`
	SimilarTo  string  `json:"similar_to"`           // the kept idea or library environment it repeats
	Similarity float64 `json:"similarity,omitempty"` // estimated Jaccard similarity of descriptions; 1 for a name clash
}

// Outcome is how a candidate ended.
type Outcome string

const (
	OutcomeCandidate Outcome = "candidate" // valid and stored with status candidate
	OutcomeInvalid   Outcome = "invalid"   // still failing validation after the last repair round
	OutcomeRefused   Outcome = "refused"   // the model declined to write it
	OutcomeEmpty     Outcome = "empty"     // the model replied with nothing
	OutcomeNoCode    Outcome = "no_code"   // the reply held no module
	OutcomeDuplicate Outcome = "duplicate" // valid but near-identical to a library environment
	OutcomeError     Outcome = "error"     // the LLM failed (retries exhausted); a resume retries it
)

// Rejected says whether the outcome is a final rejection.
func (o Outcome) Rejected() bool { return o != OutcomeCandidate && o != OutcomeError }

// Calibration flags.
const (
	FlagSolvedEverywhere = "solved_everywhere" // the solver passes every level: too easy to teach anything
	FlagSolvedNowhere    = "solved_nowhere"    // the solver fails every level: no signal for RL
	FlagNotHarder        = "not_harder"        // the pass rate does not fall significantly with the level (Trend)
)

// Summary counts a run's outcomes.
type Summary struct {
	N           int             `json:"n"`           // candidates asked for
	Ideas       int             `json:"ideas"`       // ideas kept after deduplication
	Dropped     int             `json:"dropped"`     // ideas dropped as duplicates
	Finished    int             `json:"finished"`    // candidates with a final verdict
	Implemented int             `json:"implemented"` // candidates for which the model wrote code
	Valid       int             `json:"valid"`       // passed validation (stored or duplicate)
	ValidAfter  []int           `json:"valid_after"` // ValidAfter[k]: passed validation after k repair rounds
	Stored      int             `json:"stored"`      // stored with status candidate
	Outcomes    map[Outcome]int `json:"outcomes"`    // every verdict by outcome
	Flagged     int             `json:"flagged"`     // valid candidates with a calibration flag
	Usage       llm.Usage       `json:"usage"`       // tokens of every call of this run, resumes included
	Calls       int             `json:"calls"`
	Elapsed     time.Duration   `json:"elapsed_ns"`
}

// Exchange is one call to a model, as the provenance records it.
type Exchange struct {
	Stage    string        `json:"stage"` // StageIdeate, StageImplement, StageRepair, StageJudge, StageCalibrate
	Round    int           `json:"round,omitempty"`
	System   string        `json:"system,omitempty"`
	Messages []llm.Message `json:"messages"`
	Reply    string        `json:"reply"`
	Error    string        `json:"error,omitempty"`
	Usage    llm.Usage     `json:"usage"`
	Attempts int           `json:"attempts,omitempty"`
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Provenance is everything that happened to one candidate: stored with the
// environment (storage.Env.Provenance) and in the run's verdict log entry.
type Provenance struct {
	Run         uint64                   `json:"run"`
	Index       int                      `json:"index"`
	Idea        Idea                     `json:"idea"`
	Provider    string                   `json:"provider"`
	Exchanges   []Exchange               `json:"exchanges"`
	Reports     []*validate.Report       `json:"reports,omitempty"` // one per round, the last one final
	Calibration *Calibration             `json:"calibration,omitempty"`
	Judgements  []Judgement              `json:"judgements,omitempty"` // the LLM judge's, one per round it ran
	DuplicateOf string                   `json:"duplicate_of,omitempty"`
	Duplicate   *Duplicate               `json:"duplicate,omitempty"`
	Outcome     Outcome                  `json:"outcome"`
	Reason      string                   `json:"reason,omitempty"`
	Repairs     int                      `json:"repairs"`
	Usage       llm.Usage                `json:"usage"`
	Timings     map[string]time.Duration `json:"timings_ns"` // per stage
	Elapsed     time.Duration            `json:"elapsed_ns"`
}

// Stage names: in events, exchanges and the run's log.
const (
	StageIdeate    = "ideate"
	StageImplement = "implement"
	StageValidate  = "validate"
	StageRepair    = "repair"
	StageCalibrate = "calibrate"
	StageJudge     = "judge"
	StageDedup     = "dedup"
	StageVerdict   = "verdict"
	StageIdeas     = "ideas" // the run's idea list (log only)
)
