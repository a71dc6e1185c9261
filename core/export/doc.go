// Package export writes resyn environments as datasets for other trainers:
// verl's Parquet schema and prompt/ground-truth JSONL (TRL and others).
//
// How the parts fit:
//
//   - plan.go decides which instances a dataset holds (Options.Plan): the
//     total count shared among environments by mixing weights, the
//     difficulty levels of each environment by difficulty weights, the
//     train/test split of each instance by a hash of its (environment, seed),
//     and a deterministic shuffle. The same options give the same plan on
//     every machine, and the split of an instance never depends on N.
//   - groundtruth.go is the ground truth carried by every row: environment,
//     seed, difficulty, the environment's version hash and the instance's
//     state — enough for the reward server (core/serve) to rebuild the
//     instance and to refuse to score it when the environment has changed
//     (Check, ErrEnvChanged); ScoreItem turns it into an env.ScoreItem.
//   - export.go runs the plan through an env.Executor (Generate), turns
//     instances into Records and writes them (Export) with a Writer.
//   - writer.go holds the two formats: verl Parquet (VerlRow, written with
//     github.com/parquet-go/parquet-go) and JSONL (JSONLRow).
//
// Not here: scoring (env.ScoreCompletions, core/serve), the instance
// generator itself (core/env), the plain `resyn gen` JSONL (core/dataset).
package export
