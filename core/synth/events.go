package synth

import (
	"time"

	"resyn/core/validate"
	"resyn/llm"
)

// Event is one piece of progress of a run. The concrete types below are the
// whole set; consumers type-switch on them. Every event of a candidate
// carries its Index (0-based, stable across resumes) and, once known, the
// environment Name.
type Event interface{ event() }

// RunStartedEvent opens a run (fresh or resumed).
type RunStartedEvent struct {
	RunID    uint64
	Provider string // the writer model, e.g. "openai:gpt-4o-mini"
	Solver   string // the solver model; "" when calibration is off
	N        int    // candidates asked for
	Resumed  bool
	Finished int // candidates already finished before this (resumed) run
}

// IdeateFailedEvent: one ideation call failed (the LLM call, or a reply with no
// readable idea: Err quotes its start). Ideation goes on with the next
// category; three failures in a row without any idea end the run.
type IdeateFailedEvent struct {
	Category string
	Err      error
}

// SeedIdeatedEvent: the ideation call of one seed keyword (Config.Seeds) is
// answered — Done of Total seeds so far, counting those a resumed run had
// already — with Proposed ideas, or failed with Err (IdeateFailedEvent follows).
type SeedIdeatedEvent struct {
	Seed        Seed
	Index       int
	Done, Total int
	Proposed    int
	Err         error
}

// IdeasReadyEvent says ideation is over: the ideas the run will implement, and
// the ones dropped as duplicates.
type IdeasReadyEvent struct {
	Ideas   []Idea
	Dropped []DroppedIdea
	Usage   llm.Usage
}

// CandidateStartedEvent: work on one idea begins.
type CandidateStartedEvent struct {
	Index int
	Idea  Idea
}

// StreamDeltaEvent is a piece of a model's reply as it arrives; sent only when
// Config.Stream is set. Restart says the previous attempt broke off and its
// text is void.
type StreamDeltaEvent struct {
	Index   int
	Stage   string // StageImplement, StageRepair or StageCalibrate
	Text    string
	Restart bool
}

// CodeWrittenEvent: the model produced a module (Round 0) or a repaired one
// (Round k ≥ 1).
type CodeWrittenEvent struct {
	Index  int
	Name   string
	Round  int
	Source string
	Lines  int
	Usage  llm.Usage // of this call
}

// ValidatedEvent: the checks ran on round Round's module.
type ValidatedEvent struct {
	Index  int
	Name   string
	Round  int
	OK     bool
	Report *validate.Report
	Failed []validate.Check // the failing checks (nil when OK)
}

// RepairStartedEvent: round Round (1…MaxRepairs) of repair begins.
type RepairStartedEvent struct {
	Index  int
	Name   string
	Round  int
	Failed []validate.Check // what the model is asked to fix
}

// JudgedEvent: the LLM judge reviewed round Round's module (it passed
// validation). Err is set when the judge gave no verdict.
type JudgedEvent struct {
	Index     int
	Name      string
	Round     int
	Judgement Judgement
	Err       error
}

// CalibratedEvent: the solver model's pass rates are known.
type CalibratedEvent struct {
	Index       int
	Name        string
	Calibration Calibration
}

// VerdictEvent: one candidate is finished (or, Outcome "error", given up on for
// this run; a resume retries it).
type VerdictEvent struct {
	Index       int           `json:"index"`
	Name        string        `json:"name"`
	Outcome     Outcome       `json:"outcome"`
	Reason      string        `json:"reason,omitempty"`       // why, for anything but OutcomeCandidate
	Repairs     int           `json:"repairs"`                // repair rounds used
	Implemented bool          `json:"implemented"`            // the model wrote code at least once
	DuplicateOf string        `json:"duplicate_of,omitempty"` // for OutcomeDuplicate: the library environment it duplicates
	Flags       []string      `json:"flags,omitempty"`        // calibration flags (FlagSolvedEverywhere, FlagSolvedNowhere)
	Usage       llm.Usage     `json:"usage"`
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// TotalsEvent is the running summary, sent after every verdict.
type TotalsEvent struct{ Summary Summary }

// RunFinishedEvent is always the last event. Err is nil when every candidate
// reached a verdict; a cancelled run has Err context.Canceled and can be
// resumed.
type RunFinishedEvent struct {
	RunID   uint64
	Summary Summary
	Err     error
}

func (RunStartedEvent) event()       {}
func (IdeateFailedEvent) event()     {}
func (IdeasReadyEvent) event()       {}
func (SeedIdeatedEvent) event()      {}
func (CandidateStartedEvent) event() {}
func (StreamDeltaEvent) event()      {}
func (CodeWrittenEvent) event()      {}
func (ValidatedEvent) event()        {}
func (RepairStartedEvent) event()    {}
func (CalibratedEvent) event()       {}
func (JudgedEvent) event()           {}
func (VerdictEvent) event()          {}
func (TotalsEvent) event()           {}
func (RunFinishedEvent) event()      {}
