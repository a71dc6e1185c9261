//go:build !resyn_noopenmp

package native

// OpenMP threads the C core across cores. Build with -tags resyn_noopenmp
// where the C compiler has no OpenMP (Apple clang); the pragmas are then
// ignored and everything runs on one thread.

/*
#cgo CFLAGS: -fopenmp
#cgo LDFLAGS: -fopenmp
*/
import "C"
