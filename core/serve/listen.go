package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"
)

// ListenAndServe listens on addr and serves until ctx is done (Serve),
// saying on log where it listens, how many environments it serves with how
// many workers, whether a token is required and the memory bound, and
// when it has stopped. Unless GOMEMLIMIT is set it first sets the Go
// collector's memory limit to GCLimit.
func (s *Server) ListenAndServe(ctx context.Context, addr string, workers int, drain time.Duration, log io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		// The collector keeps the heap under the server's bound
		// instead of letting garbage reach twice the live heap.
		debug.SetMemoryLimit(s.GCLimit())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	auth := "no token (loopback only)"
	if s.opts.Token != "" {
		auth = "bearer token required"
	}
	fmt.Fprintf(log, "resyn serve: listening on http://%s — %d environments, %d workers, %s, memory bound %d MiB\n", ln.Addr(), len(s.opts.Envs), workers, auth, s.MemoryBound()>>20)
	err = s.Serve(ctx, ln, drain)
	fmt.Fprintln(log, "resyn serve: stopped")
	return err
}
