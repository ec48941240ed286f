package half

import (
	"os"
	"strconv"
	"strings"
)

// ExhaustiveEnv makes the narrowing tests run float32 patterns exhaustively
// instead of the dense sample: 1 means all 2^32 (minutes per backend), i/n
// the i-th of n equal ranges of them, so that CI (.ci/amd64.sh) covers all
// 2^32 over n runs and the README's go test ./... stays quick.
const ExhaustiveEnv = "LOSSFUSE_TEST_EXHAUSTIVE"

// Sampled reports whether the narrowing tests take Patterns' dense sample:
// under -short, and unless ExhaustiveEnv asks for exhaustive patterns.
func Sampled(short bool) bool { return short || os.Getenv(ExhaustiveEnv) == "" }

// exhaustiveRange is the range of patterns ExhaustiveEnv asks for; it
// panics on a value that is neither 1 nor i/n with 0 ≤ i < n, so that a
// typo cannot turn the exhaustive run into a sampled one.
func exhaustiveRange() (lo, hi uint64) {
	v := os.Getenv(ExhaustiveEnv)
	if v == "1" {
		return 0, 1 << 32
	}
	a, b, _ := strings.Cut(v, "/")
	i, err1 := strconv.ParseUint(a, 10, 32)
	n, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || n == 0 || i >= n {
		panic(ExhaustiveEnv + "=" + strconv.Quote(v) + ": want 1 or i/n with 0 ≤ i < n")
	}
	return i << 32 / n, (i + 1) << 32 / n
}

// Patterns calls fn with the float32 bit patterns the narrowing tests use,
// part of parts of them (for parallel workers): all 2^32 (or the range
// ExhaustiveEnv names), or when short
// every 4099th (a prime stride, so that the low bits vary too) plus every
// pattern in the regions where the rounding changes case: zero and the
// subnormals, both formats' subnormal edges, overflow thresholds, ±Inf,
// NaNs, and the ties (and their neighbours) in every binade. For tests.
func Patterns(short bool, part, parts int, fn func(b uint32)) {
	if !short {
		from, to := exhaustiveRange()
		lo, hi := from+(to-from)*uint64(part)/uint64(parts), from+(to-from)*uint64(part+1)/uint64(parts)
		for b := lo; b < hi; b++ {
			fn(uint32(b))
		}
		return
	}
	whole := fn
	fn = func(b uint32) {
		if int(b>>3)%parts == part {
			whole(b)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4099 {
		fn(uint32(b))
	}
	around := func(center uint32, radius uint32) {
		for _, s := range []uint32{0, 0x80000000} {
			for d := -int64(radius); d <= int64(radius); d++ {
				fn(s | uint32(int64(center)+d))
			}
		}
	}
	for _, c := range []uint32{
		0x2000, 0x007fffff, 0x00800000, // float32 zero and subnormals, least normal (bf16's subnormal edge)
		0x7f7f8000, 0x7f7fffff, 0x7f800000, 0x7f802000, 0x7fc00000, 0x7fffdfff, // bf16 overflow, Inf, NaNs
		0x33000000, 0x33800000, 0x387fc000, 0x38800000, // f16: half the least subnormal, it, the normal edge
		0x477fe000, 0x477ff000, 0x477fffff, 0x47800000, // f16: 65504, 65520, up to 65536
		0x3f800000, 0x3f801000, 0x3f808000, // ties at 1 + ½ulp (f16, bf16)
	} {
		around(c, 1<<13)
	}
	// Every tie and its neighbours, in every binade of both formats.
	for e := uint32(0); e < 256; e++ {
		for _, low := range []uint32{0x1000, 0x3000, 0x8000, 0x18000} {
			for _, m := range []uint32{0, 0x091a0000, 0x7f0000} {
				around(e<<23|m&0x7f0000|low, 2)
			}
		}
	}
}
