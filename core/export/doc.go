// Package export writes resyn environments as datasets for other trainers:
// verl's Parquet schema and prompt/ground-truth JSONL (TRL and others).
//
// How the parts fit:
//
//   - plan.go decides which instances a dataset holds (Options.Plan): the
//     total count shared among environments by mixing weights, the
//     difficulty levels of each environment by difficulty weights (spread
//     over its seeds by a golden-ratio stride), the train/test split of
//     each instance by a hash of its (environment, seed), and a
//     deterministic shuffle (a keyed Feistel permutation of the row
//     numbers). A Plan computes each row from its index, so it takes the
//     same few hundred bytes for ten rows or a billion. The same options
//     give the same plan on every machine, and the split of an instance
//     never depends on N.
//   - groundtruth.go is the ground truth carried by every row: environment,
//     seed, difficulty, the environment's version hash and the instance's
//     state — enough for the reward server (core/serve) to rebuild the
//     instance and to refuse to score it when the environment has changed
//     (Check, ErrEnvChanged); ScoreItem turns it into an env.ScoreItem.
//   - export.go runs the plan through an env.Executor with
//     dataset.Generate (the one streaming generator, which `resyn gen` uses
//     too), turns instances into Records and writes them as they come
//     (Export) with a Writer, under temporary names that are renamed when
//     complete or removed when the export is cancelled or fails.
//   - writer.go holds the two formats: verl Parquet (VerlRow, written with
//     github.com/parquet-go/parquet-go, a row group cut every 32 MiB or so)
//     and JSONL (JSONLRow).
//
// Not here: scoring (env.ScoreCompletions, core/serve), the instance
// generator itself (core/env), the plain `resyn gen` JSONL (core/dataset).
package export
