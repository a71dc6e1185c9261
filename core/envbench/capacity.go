package envbench

import (
	"sync"
	"sync/atomic"
	"time"
)

// spinIterations is about 20 ms of work on the 2-core dev VM.
const spinIterations = 30_000_000

var spinSink atomic.Uint64 // keeps the loop from being optimised away

func spin() {
	x := uint64(1)
	for i := 0; i < spinIterations; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink.Add(x & 1)
}

// CPUScaling measures what the machine gives right now: a pure CPU loop run
// on 1 thread and on n threads at once, best of rounds each, interleaved. It
// returns the n-thread throughput over the 1-thread throughput, so n on an
// idle machine with n cores and less when other work holds the cores: the
// ceiling for any n-worker scaling measured at the same time.
func CPUScaling(n, rounds int) float64 {
	one, many := time.Duration(1<<62), time.Duration(1<<62)
	for r := 0; r < max(1, rounds); r++ {
		start := time.Now()
		spin()
		one = min(one, time.Since(start))
		var wg sync.WaitGroup
		start = time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				spin()
			}()
		}
		wg.Wait()
		many = min(many, time.Since(start))
	}
	return float64(n) * one.Seconds() / many.Seconds()
}
