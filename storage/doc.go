// Package storage is resyn's store: one bbolt file holding the environment
// library with every revision of every environment, synthesis runs and their
// logs, dataset records, training runs with their metrics, sample rollouts
// and checkpoints, and a small settings area.
//
// It is typed records and their buckets, nothing else: no domain logic (what
// makes an environment valid, when a run is done) and no imports beyond the
// standard library and bbolt. core/library, core/synth, the trainer and the
// TUI build on it.
//
// # How the parts fit
//
//   - db.go: Open (creating the file and its folder on first use, read-only
//     opens), and View/Update, which hand a *Tx to a function. No process
//     holds the store between transactions: each takes the store's lock
//     (lock_linux.go: a fair turnstile, then a shared or exclusive lock) and
//     opens the file with bbolt for its length, so any number of processes
//     share one file. batch.go: Batch, shared commits for concurrent small
//     writes. runs.go: a process's claim on the run it runs (HoldRun), so a
//     killed run reads as interrupted. preflight.go inspects an existing file before
//     bbolt sees it, so that an empty, foreign, truncated or damaged file is
//     refused with a clear error and never modified.
//   - buckets.go: every bucket and key layout, in one place.
//   - codec.go: how records are encoded (versioned JSON envelopes; a compact
//     binary form for metric points), in one place.
//   - schema.go: the schema version in the meta bucket and the ordered
//     migration table, run in one transaction at open.
//   - One file per record kind — env.go, synth.go, dataset.go, train.go,
//     metrics.go, settings.go — with Put…/Get…/List…(tx, …) functions that do
//     no transaction management of their own.
//   - check.go: Info (counts), Check (resyn's page walk, bbolt's check,
//     decoding every record) and Backup/BackupFile (a consistent copy from
//     one read transaction, checked before it is kept).
//   - locate.go: where the store is (ResolvePath: --db, $RESYN_DB, the XDG
//     default), OptionsFromEnv ($RESYN_LOCK_WAIT), OpenAt/OpenExisting, and
//     Info.Rows/HumanBytes for `resyn db info`.
//
// # Using it
//
//	db, err := storage.Open(path, storage.Options{})
//	…
//	err = db.Update(func(tx *storage.Tx) error {
//		return storage.PutEnv(tx, &storage.Env{Name: "x", Source: src, Status: storage.StatusCandidate})
//	})
//	err = db.View(func(tx *storage.Tx) error {
//		envs, err = storage.ListEnvs(tx)
//		return err
//	})
//
// Writers never hold a transaction across slow work: compute first, then
// write in a short Update. Metric points, which a trainer produces in
// bursts, go through a MetricsWriter that commits them in batches.
//
// Errors that callers act on wrap the sentinels of errors.go.
package storage
