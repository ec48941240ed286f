//go:build !arm64 || purego

package arm64

import (
	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Supported reports whether the NEON kernels can run: never in this build.
func Supported() bool { return false }

// F32 returns the generic float32 table: this build has no NEON kernels.
func F32() *args.Impl[float32] { return generic.Impl[float32]() }

// F64 returns the generic float64 table.
func F64() *args.Impl[float64] { return generic.Impl[float64]() }
