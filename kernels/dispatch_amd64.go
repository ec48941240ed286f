//go:build amd64 && !purego

package kernels

import (
	"github.com/klauspost/cpuid/v2"
	"golang.org/x/sys/cpu"

	"github.com/lossfuse/lossfuse/kernels/amd64"
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
var _ = register(
	&backend{name: "avx2", rank: 1, supported: hasAVX2, f32: amd64.Float32(false), f64: amd64.Float64(false)},
	&backend{name: "avx512", rank: 2, supported: hasAVX512, f32: amd64.Float32(true), f64: amd64.Float64(true)},
)
