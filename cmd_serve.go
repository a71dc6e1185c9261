package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	libpkg "resyn/core/library"
	"resyn/core/serve"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	var addr, token, envs string
	var workers, maxItems, maxQueued int
	var maxBodyMiB, maxBodyTotalMiB int64
	var itemTimeout, requestTimeout, drain time.Duration
	c := &cobra.Command{
		Use:  "serve",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				token = os.Getenv("RESYN_TOKEN")
			}
			if err := serve.CheckBind(addr, token); err != nil {
				return err
			}
			p, mods, err := libpkg.OpenServePool(cmd.Context(), dbPath(), true, envs, workers, itemTimeout)
			if err != nil {
				return err
			}
			defer p.Close()
			s, err := serve.New(serve.Options{Exec: p, Envs: mods, Token: token, MaxBodyBytes: maxBodyMiB << 20,
				MaxBodyTotal: maxBodyTotalMiB << 20, MaxItems: maxItems, MaxQueued: maxQueued, RequestTimeout: requestTimeout})
			if err != nil {
				return err
			}
			return s.ListenAndServe(cmd.Context(), addr, p.Workers(), drain, os.Stderr)
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8700", "listen address; non-loopback needs --token")
	c.Flags().StringVar(&envs, "env", "", "serve only these environments, comma-separated (default: every usable one, built-in and stored)")
	c.Flags().StringVar(&token, "token", "", "bearer token clients must send (default $RESYN_TOKEN)")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().DurationVar(&itemTimeout, "item-timeout", 10*time.Second, "wall-clock limit of each environment call (generate, verify), a last resort: steps and CPU time bound the work, the same on a busy machine")
	c.Flags().DurationVar(&requestTimeout, "request-timeout", 2*time.Minute, "limit for scoring one request; unscored items come back as timeout")
	c.Flags().Int64Var(&maxBodyMiB, "max-body", 64, "largest request body, in MiB")
	c.Flags().Int64Var(&maxBodyTotalMiB, "max-body-total", 0, "most MiB of request bodies held at once over all requests; beyond, 503 with Retry-After (default 4 × --max-body)")
	c.Flags().IntVar(&maxItems, "max-items", 4096, "most items in one request (counted as the body arrives)")
	c.Flags().IntVar(&maxQueued, "max-queued", 16384, "most items admitted at once; beyond, 503 with Retry-After")
	c.Flags().DurationVar(&drain, "drain", time.Minute, "on SIGTERM, how long requests in flight may take to finish")
	return c
}
