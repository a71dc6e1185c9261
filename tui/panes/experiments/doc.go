// Package experiments is the workbench's Experiments pane: the store's
// experiments over many training runs (`resyn experiment diversity`), and
// for the one selected its curves by K — the held-out reward, the held-out
// reference-answer NLL and the in-distribution reward, each seed's value
// and their mean — drawn with ntcharts, with a table of mean ± sd beside
// the runs still to come. An experiment that another process is running
// is re-read every Context.Poll, so its curves grow as its runs finish.
//
// Parts: keys.go (the key map), experiments.go (the model, its commands
// and its view).
package experiments
