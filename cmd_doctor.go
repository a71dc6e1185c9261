package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"resyn/trainer/native"
)

func init() { register(newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "doctor",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Printf("resyn doctor\n\n")
			native.WriteMachine(os.Stdout)
			if p, err := exec.LookPath("python3"); err == nil {
				fmt.Printf("  python3    %s\n", p)
			} else {
				fmt.Printf("  python3    not found (the Python benchmark reference and shims need it)\n")
			}
			path := dbPath()
			if st, err := os.Stat(path); err == nil {
				fmt.Printf("  store      %s (%.1f MiB)\n", path, float64(st.Size())/(1<<20))
			} else {
				fmt.Printf("  store      %s (not created yet)\n", path)
			}
			return nil
		},
	}
}
