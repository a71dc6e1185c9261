package native

// The C core is compiled by cgo with these flags. -O3 without -march: the
// matmul kernels are multiversioned with target_clones (x86-64-v4 for
// AVX-512, v3 for AVX2+FMA, and the baseline) and the dynamic loader picks
// one for the machine, so a shipped binary runs on any x86-64 and uses what
// its CPU has. No -ffast-math: results must be reproducible on a machine.

/*
#cgo CFLAGS: -O3 -std=gnu11 -Wno-psabi
#cgo LDFLAGS: -lm -ldl
*/
import "C"
