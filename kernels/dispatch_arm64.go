//go:build arm64 && !purego

package kernels

import "github.com/lossfuse/lossfuse/kernels/arm64"

// The NEON backend: Advanced SIMD is part of ARMv8-A, but the CPU's report
// is checked all the same. LOSSFUSE_MAX_ISA=generic caps it; the purego
// build tag removes it.
var _ = register(&backend{
	name: "neon", rank: 1, supported: arm64.Supported(),
	f32: arm64.F32(), f64: arm64.F64(),
})
