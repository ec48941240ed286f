// Package bench holds lossfuse's benchmarks: one Benchmark<Kernel> per
// public kernel, with sub-benchmarks named in benchstat's key=value form,
//
//	BenchmarkCrossEntropy/op=fwdbwd/dtype=f32/isa=avx2/n=256/k=32000
//
// for every op, element type, backend this CPU runs (selected explicitly
// with kernels.UseBackend), the textbook baseline isa=naive, and every
// shape of bench/suite. Run them with
//
//	go test -bench . ./bench
//
// or a slice of them, for example -bench 'CrossEntropy/op=fwdbwd/dtype=f32'.
// The workload itself lives in bench/suite, shared with cmd/lossbench.
package bench
