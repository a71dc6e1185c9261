package grpo

import (
	"fmt"
	"strings"

	"resyn/core/env"
)

// HoldoutEnvs turns a comma-separated list of environment names (`resyn
// train --holdout-env A,B`) into the specs of environments evaluated but
// never trained on: each over the training environments' overall level
// range (trained), narrowed to what the module offers. An unknown name, or
// one that is also trained on, is an error that names it.
func HoldoutEnvs(list string, mods []*env.Module, trained []EnvSpec) ([]EnvSpec, error) {
	byName := map[string]*env.Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	var picked []*env.Module
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		m, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("--holdout-env: unknown environment %q (see `resyn envs list`)", n)
		}
		for _, e := range trained {
			if e.Name == n {
				return nil, fmt.Errorf("--holdout-env: %q is also trained on (--env); a held-out environment must not be", n)
			}
		}
		picked = append(picked, m)
	}
	return spanSpecs(picked, trained), nil
}

// spanSpecs is a spec for each module over the trained environments'
// overall level range, narrowed to what the module offers (its lowest
// level where none of the range is).
func spanSpecs(mods []*env.Module, trained []EnvSpec) []EnvSpec {
	lo, hi := 1, 1
	for i, e := range trained {
		if i == 0 || e.MinDifficulty < lo {
			lo = e.MinDifficulty
		}
		if i == 0 || e.MaxDifficulty > hi {
			hi = e.MaxDifficulty
		}
	}
	var out []EnvSpec
	for _, m := range mods {
		s := EnvSpec{Name: m.Name, Weight: 1, MinDifficulty: max(lo, m.MinDifficulty), MaxDifficulty: min(hi, m.MaxDifficulty)}
		if s.MinDifficulty > s.MaxDifficulty {
			s.MinDifficulty, s.MaxDifficulty = m.MinDifficulty, m.MinDifficulty
		}
		out = append(out, s)
	}
	return out
}

// EnvNames is the comma-separated list of every environment a run touches:
// those trained on, then the held-out ones (the executor must run both).
func (c Config) EnvNames() string {
	var names []string
	for _, e := range c.Envs {
		names = append(names, e.Name)
	}
	for _, e := range c.HoldoutEnvs {
		names = append(names, e.Name)
	}
	return strings.Join(names, ",")
}
