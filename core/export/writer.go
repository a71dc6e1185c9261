package export

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"resyn/core/dataset"
)

// Format is an export format.
type Format string

const (
	FormatVerl  Format = "verl"  // Parquet in verl's RL dataset schema
	FormatJSONL Format = "jsonl" // prompt/ground-truth JSON lines (TRL and others)
)

// Ext is the file extension of a format, with its dot.
func (f Format) Ext() (string, error) {
	switch f {
	case FormatVerl:
		return ".parquet", nil
	case FormatJSONL:
		return ".jsonl", nil
	}
	return "", fmt.Errorf("%w %q: want verl or jsonl", ErrFormat, string(f))
}

// ChatMessage is one message of a conversational prompt.
type ChatMessage struct {
	Role    string `parquet:"role" json:"role"`
	Content string `parquet:"content" json:"content"`
}

// RewardModel is verl's reward_model column.
type RewardModel struct {
	Style       string `parquet:"style" json:"style"`               // always "rule"
	GroundTruth string `parquet:"ground_truth" json:"ground_truth"` // a GroundTruth as JSON
}

// ExtraInfo is verl's extra_info column.
type ExtraInfo struct {
	Index      int64  `parquet:"index" json:"index"`
	Split      string `parquet:"split" json:"split"`
	Env        string `parquet:"env" json:"env"`
	Seed       int64  `parquet:"seed" json:"seed"`
	Difficulty int64  `parquet:"difficulty" json:"difficulty"`
}

// VerlRow is one row of verl's RL dataset schema (as in verl's
// examples/data_preprocess scripts): the trainer renders Prompt with the
// model's chat template, and hands reward_model.ground_truth, data_source
// and extra_info to the reward function.
type VerlRow struct {
	DataSource  string        `parquet:"data_source" json:"data_source"`
	Prompt      []ChatMessage `parquet:"prompt,list" json:"prompt"`
	Ability     string        `parquet:"ability" json:"ability"`
	RewardModel RewardModel   `parquet:"reward_model" json:"reward_model"`
	ExtraInfo   ExtraInfo     `parquet:"extra_info" json:"extra_info"`
}

// JSONLRow is one line of the JSONL format: a conversational prompt and the
// ground truth as top-level fields, which is what TRL's GRPOTrainer passes
// to reward functions (every column other than prompt arrives as a keyword
// argument).
type JSONLRow struct {
	Prompt      []ChatMessage `json:"prompt"`
	GroundTruth string        `json:"ground_truth"`
	DataSource  string        `json:"data_source"`
	Ability     string        `json:"ability"`
	Env         string        `json:"env"`
	Seed        int64         `json:"seed"`
	Difficulty  int           `json:"difficulty"`
	Split       string        `json:"split"`
	Index       int           `json:"index"`
}

// VerlRowOf shapes a record as a verl row.
func VerlRowOf(r Record) VerlRow {
	return VerlRow{
		DataSource:  DataSource(r.Env),
		Prompt:      []ChatMessage{{Role: "user", Content: r.Prompt}},
		Ability:     r.Ability,
		RewardModel: RewardModel{Style: "rule", GroundTruth: r.GroundTruth.String()},
		ExtraInfo:   ExtraInfo{Index: int64(r.Index), Split: r.Split, Env: r.Env, Seed: r.Seed, Difficulty: int64(r.Difficulty)},
	}
}

// JSONLRowOf shapes a record as a JSONL row.
func JSONLRowOf(r Record) JSONLRow {
	return JSONLRow{
		Prompt:      []ChatMessage{{Role: "user", Content: r.Prompt}},
		GroundTruth: r.GroundTruth.String(),
		DataSource:  DataSource(r.Env), Ability: r.Ability,
		Env: r.Env, Seed: r.Seed, Difficulty: r.Difficulty, Split: r.Split, Index: r.Index,
	}
}

// Writer writes records in one format. Close finishes the file (Parquet's
// footer) but does not close the underlying io.Writer.
type Writer interface {
	Write(Record) error
	Close() error
}

// NewWriter returns a Writer for format on w.
func NewWriter(format Format, w io.Writer) (Writer, error) {
	switch format {
	case FormatVerl:
		return &parquetWriter{w: parquet.NewGenericWriter[VerlRow](w, parquet.Compression(&parquet.Snappy))}, nil
	case FormatJSONL:
		return jsonlWriter{dataset.NewEncoder(w)}, nil
	}
	_, err := format.Ext()
	return nil, err
}

// parquetWriter buffers rows so that parquet-go writes them in batches, and
// ends a row group every parquetRowGroupBytes or so: parquet-go keeps the
// whole row group in memory until it is flushed (by default a file is one
// row group), so without the cut an export's memory would grow with N.
type parquetWriter struct {
	w     *parquet.GenericWriter[VerlRow]
	buf   []VerlRow
	group int // bytes of text in the open row group, roughly
}

const parquetBatch = 512

// parquetRowGroupBytes is where a row group is cut (a variable for tests).
var parquetRowGroupBytes = 32 << 20

func (p *parquetWriter) Write(r Record) error {
	row := VerlRowOf(r)
	p.buf = append(p.buf, row)
	p.group += len(row.Prompt[0].Content) + len(row.RewardModel.GroundTruth) + 64
	if len(p.buf) >= parquetBatch || p.group >= parquetRowGroupBytes {
		return p.flush()
	}
	return nil
}

func (p *parquetWriter) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	_, err := p.w.Write(p.buf)
	clear(p.buf)
	p.buf = p.buf[:0]
	if err == nil && p.group >= parquetRowGroupBytes {
		err = p.w.Flush() // ends the row group
		p.group = 0
	}
	return err
}

func (p *parquetWriter) Close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

type jsonlWriter struct{ enc *json.Encoder }

func (j jsonlWriter) Write(r Record) error { return j.enc.Encode(JSONLRowOf(r)) }
func (j jsonlWriter) Close() error         { return nil }
