// Package serve is resyn's reward server: HTTP in front of the sandboxed
// worker pool, so that a trainer on a cluster (verl, TRL, anything that can
// POST JSON) scores completions with the very verifiers resyn curated,
// instead of re-implementing them in Python.
//
// The endpoints:
//
//	POST /score    {"items":[…]} → {"rewards":[…]}, one env.Reward per item, in order
//	GET  /envs     the environments served, with difficulty ranges and version hashes
//	GET  /healthz  "ok" (503 "draining" during shutdown); never needs the token
//	GET  /metrics  Prometheus text format
//
// An item names its instance either by (env, seed, difficulty) or by the
// ground_truth string of a row that `resyn export` wrote (core/export); both
// go through env.ScoreCompletions, the one scorer `resyn score` uses too, so
// the reward is the same whichever way it is asked for. A ground truth made
// by another version of its environment is not scored: its reward has kind
// env_error and code "env_changed" (see Reward).
//
// How the parts fit:
//
//   - server.go: Options, New, Serve (graceful shutdown: in-flight requests
//     finish), the bearer-token check and CheckBind (a non-loopback address
//     needs a token).
//   - score.go: the /score wire format (Request, Item, Reward, Response);
//     the streaming decoder, which decodes, checks and admits one item at a
//     time as the body arrives (413 at item MaxItems+1, before reading it);
//     admission against the two budgets that bound the server's memory
//     whatever its clients send — items in flight (MaxQueued) and the
//     memory of request bodies (MaxBodyTotal, charged by budgetReader for
//     what the JSON decoder holds) — with 503 and Retry-After at once when
//     either is full; scoring with a per-request deadline; replies written
//     a reward at a time with error texts capped. Items of a client that
//     went away are "cancelled" (code and /metrics kind), never env_error.
//   - server.go also states the bound: MemoryBound, and GCLimit, the soft
//     memory limit `resyn serve` gives the Go runtime.
//   - metrics.go: the counters and the latency histogram behind /metrics.
//   - client.go: a small Go client (Client.Score), used by `resyn bench
//     serve` and the tests.
//   - loadgen/: good and hostile traffic with the answer a sound server
//     gives to each, for the load test (cmd_bounds_test.go) and the soak
//     (scripts/soak).
//
// Not here: running environment code (core/env: the per-call limits, among
// them the per-item timeout, are the pool's), building datasets
// (core/export), the command line (cmd_serve.go).
package serve
