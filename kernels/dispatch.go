package kernels

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// backend is one implementation of every kernel, for both element types.
type backend struct {
	name      string
	rank      int  // higher is preferred
	supported bool // the CPU (and OS) can run it
	f32       *args.Impl[float32]
	f64       *args.Impl[float64]
}

// registry lists every backend compiled into this binary, lowest rank first.
// Architecture files add to it with register during package variable
// initialisation (dispatch_amd64.go, …), before init chooses.
var registry = []*backend{{
	name: "generic", rank: 0, supported: true,
	f32: generic.Impl[float32](), f64: generic.Impl[float64](),
}}

// active is the backend every call uses; chosen once at initialisation.
var active *backend

// MaxISAEnv is the environment variable that caps the backend choice, as
// oneDNN's ONEDNN_MAX_CPU_ISA does: LOSSFUSE_MAX_ISA=generic forces the pure-Go
// kernels, =avx2 forbids AVX-512, and so on, in any case. A value that names
// no backend of the build is a configuration error, not a hint to ignore:
// every call then returns ErrBackend naming the variable (and the message
// goes to standard error at start-up), until the variable is fixed.
const MaxISAEnv = "LOSSFUSE_MAX_ISA"

// configErr is set when MaxISAEnv names no backend; every entry point
// returns it.
var configErr error

func init() { active, configErr = choose(os.Getenv(MaxISAEnv)) }

// register appends backends to the registry; its result only lets
// architecture files call it in a package-level var declaration.
func register(bs ...*backend) bool {
	registry = append(registry, bs...)
	return true
}

// choose returns the best supported backend whose rank does not exceed the
// cap named by maxISA ("" means no cap), and an error when maxISA names no
// backend (the best backend is returned then too).
func choose(maxISA string) (*backend, error) {
	limit := int(^uint(0) >> 1)
	var err error
	if strings.TrimSpace(maxISA) != "" {
		if b := lookup(maxISA); b != nil {
			limit = b.rank
		} else {
			err = fmt.Errorf("%w: %s=%q names no backend of this build (%s, in any case); every lossfuse call fails until it is fixed or unset",
				ErrBackend, MaxISAEnv, maxISA, strings.Join(BackendNames(), ", "))
			fmt.Fprintln(os.Stderr, err)
		}
	}
	best := registry[0]
	for _, b := range registry {
		if b.supported && b.rank <= limit && b.rank > best.rank {
			best = b
		}
	}
	return best, err
}

// lookup finds a backend by name, in any case.
func lookup(name string) *backend {
	name = strings.TrimSpace(name)
	for _, b := range registry {
		if strings.EqualFold(b.name, name) {
			return b
		}
	}
	return nil
}

// Backend returns the name of the backend in use: "generic", "avx2",
// "avx512" or "neon".
func Backend() string { return active.name }

// BackendNames lists every backend compiled into this binary, supported by
// the CPU or not, from least to most preferred.
func BackendNames() []string {
	names := make([]string, len(registry))
	for i, b := range registry {
		names[i] = b.name
	}
	return names
}

// Backends lists the backends this CPU can run, from least to most preferred.
// Tests and benchmarks iterate over it to cover every implementation.
func Backends() []string {
	var names []string
	for _, b := range registry {
		if b.supported {
			names = append(names, b.name)
		}
	}
	return names
}

// UseBackend switches every later call to the named backend and returns a
// function that restores the previous one. It is meant for tests and
// benchmarks; it is not safe to call while kernels run on other goroutines.
func UseBackend(name string) (restore func(), err error) {
	b := lookup(name)
	if b == nil || !b.supported {
		return nil, fmt.Errorf("%w: %q (this CPU runs %v)", ErrBackend, name, Backends())
	}
	prev := active
	active = b
	return func() { active = prev }, nil
}

// PathsTaken runs f and returns the code paths that the lossfuse calls in
// f took, sorted and without repeats ("amd64/f32/ce/fused", "generic/ce",
// …; docs/paths.md lists every one). On a SIMD backend a path under
// "generic/" is a scalar fallback: this is how to check that a call of
// yours runs vectorised. A diagnostic, like UseBackend: not safe while
// kernels run on other goroutines.
func PathsTaken(f func()) []string {
	seen := map[string]bool{}
	prev := args.Trace
	args.Trace = func(p string) { seen[p] = true }
	defer func() { args.Trace = prev }()
	f()
	return slices.Sorted(maps.Keys(seen))
}

// IsFallback reports whether a path that PathsTaken returned on a SIMD
// backend is a generic (scalar) kernel run instead of a vectorised one.
// The generic scan of binary targets ("generic/outside-unit"), which neon
// shares, is validation, not a kernel.
func IsFallback(path string) bool {
	return strings.HasPrefix(path, "generic/") && path != "generic/outside-unit"
}

// impl returns the active table for T without allocating: the two tables
// differ only in their element type, so the one of T's size is reinterpreted.
func impl[T Float]() *args.Impl[T] {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return (*args.Impl[T])(unsafe.Pointer(active.f32))
	}
	return (*args.Impl[T])(unsafe.Pointer(active.f64))
}
