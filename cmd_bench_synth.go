package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"resyn/core/synth/synthload"
)

func init() { registerBench(newBenchSynthCmd) }

func newBenchSynthCmd() *cobra.Command {
	var o synthload.BenchOptions
	var db, serve string
	var asJSON bool
	c := &cobra.Command{
		Use:   "synth",
		Short: "Load test of synthesis: 1,000 candidates against a slow, rate-limiting, flaky simulated LLM server",
		Long: `Starts a local OpenAI-compatible server playing a writer model — replies take
seconds to a minute (times --latency-scale), 4% of requests are answered 429
with a Retry-After and every 250th starts a storm of 20 more, 1% get a 503,
0.5% hang until the client gives up, 1% are cut off part-way — that answers
ideation, implementation and repair requests from a corpus of plausible
environment code with the mistakes writer models make (Python syntax, strings
iterated, prompts without answer tags, verifiers that accept everything or
raise, generators that never end, …; see core/synth/synthload). Then it runs
resyn synth --seeds builtin against it for --candidates candidates with
--concurrency LLM requests in flight, and with --kill-after N kills it with
SIGKILL after N verdicts and continues it with --resume, checking that nothing
finished was redone.

It reports the wall time against the ideal (every reply's latency summed over
the requests in flight: the run if the LLM were its only cost), LLM calls and
tokens per admitted environment, the yield of each stage, peak memory and the
store's size. The server's latencies, Retry-After and resyn's request timeout
and retry pauses are all scaled by --latency-scale; the CPU work (validation,
deduplication, the store) is not.

The model answers from the corpus's held-back part by default (--corpus
heldback), which no test or tuning of the pipeline uses. --serve ADDR only
runs the simulated server, for trying resyn synth or the workbench against it.`,
		Example: `  resyn bench synth --candidates 1000 --concurrency 32 --latency-scale 0.1 --kill-after 400
  resyn bench synth --candidates 100 --latency-scale 0.02 --json
  resyn bench synth --serve 127.0.0.1:8800 --latency-scale 0.2   # then: resyn synth --provider openai --base-url http://127.0.0.1:8800/v1 --model sim --seeds builtin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Check(); err != nil {
				return err
			}
			if serve != "" {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
				defer stop()
				return synthload.Serve(ctx, serve, o, os.Stderr)
			}
			o.DB, o.Progress = db, os.Stderr
			rep, err := synthload.BenchSelf(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(rep)
			}
			rep.Table(os.Stdout)
			return rep.Redone()
		},
	}
	f := c.Flags()
	f.IntVar(&o.Candidates, "candidates", 1000, "candidates to synthesize")
	f.IntVar(&o.Concurrency, "concurrency", 32, "LLM requests in flight")
	f.IntVar(&o.Parallel, "parallel", 0, "candidates in flight (default 1.5 × --concurrency)")
	f.Float64Var(&o.Scale, "latency-scale", 0.1, "multiplies every latency and wait (1: replies take seconds to a minute)")
	f.StringVar(&o.Part, "corpus", synthload.PartHeldBack, "corpus part the model answers from: heldback or tuning")
	f.IntVar(&o.KillAfter, "kill-after", 0, "kill resyn synth with SIGKILL after this many verdicts and resume it (0: no kill)")
	f.IntVar(&o.Workers, "workers", 0, "sandbox workers of resyn synth (default: one per core)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated model and server")
	f.StringVar(&db, "store", "", "the new store the load test writes, kept afterwards (default: a temporary one, removed after; your --db store is never touched)")
	f.StringVar(&serve, "serve", "", "only run the simulated server on `ADDR` until interrupted")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}
