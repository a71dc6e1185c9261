package synth

// DemoConfig is the configuration the demo recording that ships with resyn
// (testdata/synth/run.jsonl, played by `resyn synth --provider replay`) was
// made with: twelve candidates from the first three default categories,
// five ideas per call, two repair rounds.
func DemoConfig() Config {
	return Config{N: 12, IdeasPerCall: 5, MaxRepairs: 2, Parallel: 3}
}
