//go:build arm64 && !purego

package kernels

import (
	"os"

	"github.com/lossfuse/lossfuse/kernels/arm64"
)

// The NEON backend: Advanced SIMD is part of ARMv8-A, but the CPU's report
// is checked all the same. LOSSFUSE_MAX_ISA=generic caps it; the purego
// build tag removes it.
func init() {
	registry = append(registry, &backend{
		name: "neon", rank: 1, supported: arm64.Supported(),
		f32: arm64.F32(), f64: arm64.F64(),
	})
	active = choose(os.Getenv(MaxISAEnv))
}
