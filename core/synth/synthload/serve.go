package synthload

import (
	"context"
	"fmt"
	"io"
)

// Serve runs the simulated writer model's server on addr (resyn bench
// synth --serve) for o's corpus part, scale and seed, saying on log where
// it is, until ctx is done.
func Serve(ctx context.Context, addr string, o BenchOptions, log io.Writer) error {
	corpus, err := Load(o.Part)
	if err != nil {
		return err
	}
	srv := NewServer(ServerOptions{Model: &Model{Corpus: corpus, Rates: DefaultRates(), Seed: o.Seed},
		Faults: DefaultFaults(), Scale: o.Scale, Seed: o.Seed})
	base, err := srv.Start(addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "simulated writer model at %s (latency ×%g, corpus %s); GET %s/stats for counts; Ctrl-C stops\n",
		base, o.Scale, o.Part, base[:len(base)-3])
	<-ctx.Done()
	return srv.Close()
}
