// Package fallbacks lists the calls that a SIMD backend hands to a generic
// (scalar, pure-Go) kernel on purpose, each with its reason and measured
// cost. It is data for tests only: kernels/fallback_test.go enumerates
// every kernel × option × dtype on every SIMD backend of the CPU and fails
// when a call reaches a generic kernel that no entry names, or when an
// entry no longer matches any call (it was vectorised: delete it);
// docs/fallbacks.md is generated from the list, and bench/cliffs_test.go
// (BenchmarkFallbacks) measures each entry against its vectorised
// neighbour.
package fallbacks

import "strings"

// Entry is one deliberate fallback: calls of Kernel on Backend ("avx2",
// "avx512", "neon"; "amd64" for both of the first) in DType ("f32", "f64"
// or "" for both) whose option set holds every option of Options reach a
// generic kernel. Options are the enumeration's names (kernels/
// fallback_test.go: "softcap", "probs", "clip", "soft-labels", …).
type Entry struct {
	Backend, Kernel, DType string
	Options                []string
	Reason                 string
	// Cost is the measured slowdown against the vectorised neighbour
	// (Neighbour drops the options that force the fallback), from
	// BenchmarkFallbacks; "" until measured.
	Cost string
}

// Matches reports whether a call of kernel on backend in dtype with the
// option set opts falls under e.
func (e Entry) Matches(backend, kernel, dtype string, opts []string) bool {
	if e.Kernel != kernel || e.DType != "" && e.DType != dtype {
		return false
	}
	switch e.Backend {
	case backend:
	case "amd64":
		if backend != "avx2" && backend != "avx512" {
			return false
		}
	default:
		return false
	}
	for _, o := range e.Options {
		found := false
		for _, p := range opts {
			found = found || p == o
		}
		if !found {
			return false
		}
	}
	return true
}

// Name is the entry's short name, as in docs/fallbacks.md.
func (e Entry) Name() string {
	dt := e.DType
	if dt == "" {
		dt = "f32+f64"
	}
	return e.Backend + "/" + e.Kernel + "/" + strings.Join(e.Options, "+") + "/" + dt
}

// List is every deliberate fallback.
var List = []Entry{
	{Backend: "amd64", Kernel: "NLL", Reason: nllReason, Cost: nllCost},
	{Backend: "neon", Kernel: "NLL", Reason: nllReason, Cost: nllCost},
}

// NLL reads one value per row and writes one value per row into a zeroed
// gradient: the zero fill is Go's runtime memclr, which is already
// vectorised (AVX2 or ERMS and non-temporal stores on amd64, NEON on
// arm64), so a generated kernel would be the same code.
const (
	nllReason = "the work is a zero fill of the gradient (the runtime's vectorised memclr) and one load and one store per row; a generated kernel would be the same loop"
	nllCost   = "0.98–1.06× a bare zero fill of its gradient, 1.21× for f64 on avx512 (BenchmarkFallbacks, 256×32000, medians of 6, AMD Zen 5)"
)
