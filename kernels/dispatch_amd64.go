//go:build amd64 && !purego

package kernels

import (
	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/cpu"

	"github.com/lossfuse/lossfuse/kernels/amd64"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// x/sys/cpu reports AVX2 and AVX-512 only when the OS also saves the YMM and
// ZMM/opmask state (XGETBV), so these flags already include OS support.
// The avx2 backend's float16 conversions use F16C, which every AVX2 CPU
// has (Intel since Ivy Bridge, AMD since Piledriver); x/sys/cpu does not
// report it, cpuid does. It is checked all the same, for virtual CPUs that
// mask features one by one.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpuid.CPU.Supports(cpuid.F16C)
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ &&
		cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
)

// Registered during variable initialisation, which completes before any
// init function, so dispatch.go's init chooses among every backend (and
// LOSSFUSE_MAX_ISA=avx2 is not reported as unknown). The best supported one
// is the default: the whole suite passes on avx512 on Sapphire Rapids.
var (
	avx2Backend   = &backend{name: "avx2", rank: 1, supported: hasAVX2, f32: amd64.Float32(false), f64: amd64.Float64(false)}
	avx512Backend = &backend{name: "avx512", rank: 2, supported: hasAVX512, f32: amd64.Float32(true), f64: amd64.Float64(true)}
	_             = register(avx2Backend, avx512Backend)
)

// directCE runs a cross-entropy call by a direct call into the active
// backend when that is an amd64 one, and reports whether it did. Through
// the table's func value the args (about 300 bytes) are copied into the
// call, and the copy's loads wait for the stores that just built them: at
// N = 1, K = 10 that was 9 of 102 ns a call (AMD Zen 5, go test -bench
// FixedCost ./bench).
func directCE[T Float](a *args.CE[T]) (float64, bool) {
	if active != avx2Backend && active != avx512Backend {
		return 0, false
	}
	z := active == avx512Backend
	switch p := any(a).(type) {
	case *args.CE[float32]:
		return amd64.CrossEntropy32(z, p), true
	case *args.CE[float64]:
		return amd64.CrossEntropy64(z, p), true
	}
	return 0, false
}
