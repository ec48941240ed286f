package fuzz

import "github.com/lossfuse/lossfuse/kernels"

// The Runner (kernels.Runner) cuts a call into blocks and runs them on
// several goroutines. A case draws one of these, last of all its choices
// (an input that ends before draws 0: no Runner):
//
//	0: none, the call runs on the fuzzing goroutine
//	1: three goroutines, blocks of 64 elements, every call spread: block
//	   boundaries everywhere, rows of the short-row kernels cut apart
//	2: two goroutines, blocks of 1000 elements, every call spread
//	3: the defaults (only calls of kernels.ParallelMinElems or more spread)
//
// The checks are the same: the reference's contract, error before any
// write, nothing outside the outputs touched.
const runnerChoices = 4

var fuzzRunners = func() [runnerChoices]*kernels.Runner {
	var rs [runnerChoices]*kernels.Runner
	rs[1] = kernels.NewRunner(3)
	rs[1].SetBlockElems(64)
	rs[1].SetMinElems(1)
	rs[2] = kernels.NewRunner(2)
	rs[2].SetBlockElems(1000)
	rs[2].SetMinElems(1)
	rs[3] = kernels.NewRunner(2)
	return rs
}()
