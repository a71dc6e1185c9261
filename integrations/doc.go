// Package integrations holds no Go code: it is the home of the tests of
// the files beside it, which users copy into other trainers' runs —
// verl/resyn_reward.py and verl/run_grpo.sh for verl, trl/resyn_reward.py
// for TRL.
//
// What the tests check (verl_test.go, shims_test.go):
//   - run_grpo.sh's overrides, for each supported verl version, name only
//     keys of that version's own config schema (verl's
//     _generated_ppo_trainer.yaml flattened into verl/testdata/*.keys),
//     and the reward lines are the ones that version runs: the batch
//     manager on 0.5 and 0.6, the reward loop with an async compute_score
//     on 0.7 and main.
//   - the shims, run with python3 against a local server (long suite):
//     retries on 429/502/503/504 with Retry-After in seconds or as an HTTP
//     date, one request for concurrent async calls, verl's
//     default_compute_score for other data sources, and TRL's None
//     semantics per version, with the warning on older TRL.
package integrations
