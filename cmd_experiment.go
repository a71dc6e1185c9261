package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/storage"
	"resyn/trainer/experiment"
)

func init() { register(newExperimentCmd) }

func newExperimentCmd() *cobra.Command {
	c := &cobra.Command{Use: "experiment"}
	c.AddCommand(newDiversityCmd(), newExperimentShowCmd())
	return c
}

func newDiversityCmd() *cobra.Command {
	d, o := experiment.Defaults(), experiment.Options{}
	var levels, svg, report string
	c := &cobra.Command{
		Use:  "diversity",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d.Model != "" && !cmd.Flags().Changed("preset") {
				d.Preset = ""
			}
			lo, hi, err := dataset.ParseRange(levels)
			if d.Levels = [2]int{lo, hi}; err == nil && o.Resume == 0 {
				err = d.Validate()
			}
			if err != nil {
				return err
			}
			db, err := openStore(false)
			if err != nil {
				return err
			}
			defer db.Close()
			o.Design, o.Store, o.StorePath, o.Log = d, db, dbPath(), os.Stderr
			res, err := experiment.Run(cmd.Context(), o)
			if res.ID != 0 {
				fmt.Fprintf(os.Stderr, "experiment %d %s\n", res.ID, res.Status)
				err = errors.Join(err, res.Report.WriteFiles(report, svg))
			}
			if res.Status == "stopped" {
				fmt.Fprintf(os.Stderr, "resume with: resyn experiment diversity --resume %d\n", res.ID)
				return exitError{code: 130}
			}
			return err
		},
	}
	fl := c.Flags()
	fl.StringSliceVar(&d.Envs, "env", d.Envs, "the training pool: each run trains on a nested subset of K of them")
	fl.StringSliceVar(&d.Holdout, "holdout-env", d.Holdout, "environments every run is evaluated on and none trains on")
	fl.IntSliceVar(&d.Ks, "k", d.Ks, "subset sizes, ascending; 1 and the pool's size among them")
	fl.Int64SliceVar(&d.Seeds, "seeds", d.Seeds, "seeds: each draws its own nested subsets and trains its own models")
	fl.IntVar(&d.Budget, "budget", d.Budget, "training instances of every run, split evenly over its K environments")
	fl.StringVar(&levels, "difficulty", "1-1", "difficulty range LO-HI of every environment")
	fl.IntVar(&d.SFTSteps, "sft-steps", d.SFTSteps, "warm-start steps of every run")
	fl.IntVar(&d.Steps, "steps", d.Steps, "GRPO steps of every run")
	fl.IntVar(&d.EvalN, "eval-n", d.EvalN, "distinct evaluation instances per environment")
	fl.IntVar(&d.EvalSamples, "eval-samples", d.EvalSamples, "completions of each evaluation instance")
	fl.StringVar(&d.Preset, "preset", d.Preset, "the model and recipe of every run, trained from scratch")
	fl.StringVar(&d.Model, "model", "", "a Hugging Face Qwen2 checkpoint directory every run starts from, instead of --preset")
	fl.Uint64Var(&o.Resume, "resume", 0, "go on with stored experiment ID (its own design; finished runs are kept)")
	fl.IntVar(&o.Parallel, "parallel", 2, "runs at a time")
	fl.IntVar(&o.Threads, "threads", 1, "CPU threads of each run")
	fl.StringVar(&o.Backend, "backend", "cpu", "numeric backend of every run: cpu or cuda")
	fl.StringVar(&o.Out, "out", "", "checkpoint directory (default: runs/<time> beside the store, one per run)")
	fl.StringVar(&o.Name, "name", "", "name of the experiment in the store")
	fl.StringVar(&report, "report", "", "write the report as JSON to FILE (- for stdout)")
	fl.StringVar(&svg, "svg", "", "write the plot of the curves to FILE (SVG)")
	return c
}

func newExperimentShowCmd() *cobra.Command {
	var report, svg string
	c := &cobra.Command{
		Use:  "show [ID]",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openStore(true)
			if err != nil || db == nil {
				return errors.Join(err, fmt.Errorf("no store at %s: no experiments", dbPath()))
			}
			defer db.Close()
			if len(args) == 0 {
				return experiment.WriteList(os.Stdout, db)
			}
			id, err := storage.ParseID(args[0], storage.RunExperiment)
			if err != nil {
				return err
			}
			return experiment.Show(os.Stdout, db, id, report, svg)
		},
	}
	c.Flags().StringVar(&report, "report", "", "write the report as JSON to FILE (- for stdout)")
	c.Flags().StringVar(&svg, "svg", "", "write the plot of the curves to FILE (SVG)")
	return c
}
