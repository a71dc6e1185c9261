package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"resyn/trainer/hf"
	"resyn/trainer/native"
	"resyn/trainer/safetensors"
)

func init() { register(newModelCmd) }

func newModelCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "model",
	}
	c.AddCommand(newModelInitCmd(), newModelCheckLogitsCmd())
	return c
}

func newModelInitCmd() *cobra.Command {
	var vocab, hidden, inter, layers, heads, kvHeads, maxPos int
	var untied bool
	var seed uint64
	var std, theta float64
	var dtype string
	var shardMB int64
	c := &cobra.Command{
		Use:  "init DIR",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dt, err := safetensors.ParseFloatDType(dtype)
			if err != nil {
				return fmt.Errorf("--dtype %w", err)
			}
			h := hf.NewConfig(vocab, hidden, inter, layers, heads, kvHeads)
			h.TieWordEmbeddings = !untied
			h.MaxPositionEmbeddings = maxPos
			h.RopeTheta = theta
			n, err := native.InitHF(args[0], h, seed, float32(std), hf.SaveOptions{DType: dt, MaxShardBytes: shardMB << 20})
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote a random Qwen2 model of %d parameters to %s (%s)\n", n, args[0], dt)
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&vocab, "vocab", 512, "vocabulary size")
	f.IntVar(&hidden, "hidden", 64, "hidden size")
	f.IntVar(&inter, "intermediate", 176, "MLP width")
	f.IntVar(&layers, "layers", 2, "decoder layers")
	f.IntVar(&heads, "heads", 4, "query heads")
	f.IntVar(&kvHeads, "kv-heads", 2, "key/value heads")
	f.IntVar(&maxPos, "max-positions", 2048, "max_position_embeddings")
	f.Float64Var(&theta, "rope-theta", 10000, "rotary base (Qwen2.5 uses 1000000)")
	f.BoolVar(&untied, "untied", false, "give the model its own lm_head.weight")
	f.Uint64Var(&seed, "seed", 1, "initialisation seed")
	f.Float64Var(&std, "std", 0.02, "standard deviation of the matrices")
	f.StringVar(&dtype, "dtype", "F32", "stored dtype: F32, BF16 or F16 (any case; fp32, fp16 too)")
	f.Int64Var(&shardMB, "shard-mb", 0, "split the weights into shards of this many MB (0: transformers' 5 GB)")
	return c
}

func newModelCheckLogitsCmd() *cobra.Command {
	var out string
	var nSeq, seqLen, nIDs, threads int
	var seed uint64
	var atol float64
	var asJSON bool
	c := &cobra.Command{
		Use:  "check-logits DIR",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if out == "" {
				out = filepath.Join(dir, "logits_check.json")
			}
			m, _, err := native.LoadHF(dir, native.Options{Threads: threads, MaxSeqLen: seqLen})
			if err != nil {
				return err
			}
			defer m.Close()
			fmt.Fprintf(os.Stderr, "computing %d sequences (up to %d tokens) with %d logit ids on %s…\n", nSeq, seqLen, nIDs, m.Backend().Name())
			lc, err := m.RandomLogitsCheck(nSeq, seqLen, nIDs, seed, atol)
			if err != nil {
				return err
			}
			if err := hf.WriteLogitsCheck(out, lc); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(map[string]any{"file": out, "sequences": len(lc.Sequences), "atol": atol})
			}
			fmt.Printf("wrote %s: %d sequences, atol %g\n", out, len(lc.Sequences), atol)
			fmt.Printf("compare on a machine with transformers:\n  python3 scripts/gpu/hf_logits.py %s %s\n", dir, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "the file to write (default DIR/logits_check.json)")
	f.IntVar(&nSeq, "seqs", 3, "number of token sequences")
	f.IntVar(&seqLen, "len", 64, "tokens in the first sequence (the others are halves)")
	f.IntVar(&nIDs, "ids", 8, "vocabulary ids whose raw logits are recorded")
	f.Uint64Var(&seed, "seed", 1, "seed of the token sequences")
	f.Float64Var(&atol, "atol", 1e-3, "largest difference the comparison accepts")
	f.IntVar(&threads, "threads", 0, "CPU threads (0: every core)")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary on stdout")
	return c
}
