// Package training is the workbench's training pane: for a training run in
// the store (finished, or running and followed live), curves of mean
// reward, pass rate per environment, loss, KL, entropy, response length and
// tokens/s drawn in the terminal with ntcharts, and the sample rollouts
// with their rewards.
//
// It reads the store's metrics format (storage.MetricPoint, as
// trainer/grpo writes it) and nothing of the trainer itself, so it shows
// any run a trainer recorded, and a recorded run from testdata/train-run
// (LoadRecorded) before a trainer exists. A run whose status is "running"
// is re-read every FollowInterval from its last step.
//
// Parts: keys.go (the key map), training.go (the model and its commands),
// chart.go (series and drawing), recorded.go (LoadRecorded).
package training
