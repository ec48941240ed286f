package kernels

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestMaxISAEnvAnyCase: LOSSFUSE_MAX_ISA names a backend in any case (and
// with surrounding spaces), as UseBackend does.
func TestMaxISAEnvAnyCase(t *testing.T) {
	for _, name := range []string{"generic", "GENERIC", " Generic "} {
		b, err := choose(name)
		if err != nil || b.name != "generic" {
			t.Errorf("choose(%q) = %v, %v; want generic", name, b.name, err)
		}
	}
	for _, b := range registry {
		if got := lookup(strings.ToUpper(b.name)); got != b {
			t.Errorf("lookup(%q) did not find %s", strings.ToUpper(b.name), b.name)
		}
	}
}

// TestMaxISAEnvUnknown: a value that names no backend is an error that
// every entry point returns, naming the variable, with every output
// untouched; unset, the calls work again.
func TestMaxISAEnvUnknown(t *testing.T) {
	_, err := choose("avx9000")
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), MaxISAEnv) || !strings.Contains(err.Error(), `"avx9000"`) {
		t.Fatalf("choose(\"avx9000\") error = %v; want ErrBackend naming %s and the value", err, MaxISAEnv)
	}
	saved := configErr
	configErr = err
	defer func() { configErr = saved }()

	const n, k = 2, 3
	sentinel := float32(math.Pi)
	x := []float32{1, 2, 3, 4, 5, 6}
	y := []float32{0, 1, 1, 0, 1, 0}
	targets := []int32{0, 2}
	out := make([]float32, n*k)
	for i := range out {
		out[i] = sentinel
	}
	calls := map[string]func() error{
		"CrossEntropy": func() error { _, e := CrossEntropy(x, targets, n, k, out, nil); return e },
		"CrossEntropyProbs": func() error {
			_, e := CrossEntropyProbs(x, []float32{1, 0, 0, 0, 1, 0}, n, k, out, nil)
			return e
		},
		"SoftmaxFocal":  func() error { _, e := SoftmaxFocal(x, targets, n, k, out, nil); return e },
		"BCEWithLogits": func() error { _, e := BCEWithLogits(x, y, n, k, out, nil); return e },
		"SigmoidFocal":  func() error { _, e := SigmoidFocal(x, y, n, k, out, nil); return e },
		"MSE":           func() error { _, e := MSE(x, y, out, nil); return e },
		"Softmax":       func() error { return Softmax(out, x, n, k, nil) },
		"Sigmoid":       func() error { return Sigmoid(out, x, nil) },
	}
	for name, call := range calls {
		if e := call(); !errors.Is(e, ErrBackend) {
			t.Errorf("%s with a bad %s: error %v, want ErrBackend", name, MaxISAEnv, e)
		}
		for i, v := range out {
			if v != sentinel {
				t.Fatalf("%s wrote out[%d] = %v before failing", name, i, v)
			}
		}
	}
	configErr = nil
	if _, e := CrossEntropy(x, targets, n, k, out, nil); e != nil {
		t.Errorf("CrossEntropy after the variable is fixed: %v", e)
	}
}

// TestRunnerBlockFor: by default a block is a sixteenth of the call within
// [blockElems, maxBlockElems]; SetBlockElems overrides it and 0 restores it.
func TestRunnerBlockFor(t *testing.T) {
	r := NewRunner(1)
	defer r.Close()
	for _, c := range [][2]int{{1, blockElems}, {40960, blockElems}, {1 << 19, 1 << 15}, {1 << 20, maxBlockElems}, {1 << 27, maxBlockElems}} {
		if got := r.blockFor(c[0]); got != c[1] {
			t.Errorf("blockFor(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	r.SetBlockElems(700)
	if got := r.blockFor(1 << 20); got != 700 {
		t.Errorf("after SetBlockElems(700): blockFor = %d", got)
	}
	r.SetBlockElems(0)
	if got := r.blockFor(1 << 20); got != maxBlockElems {
		t.Errorf("after SetBlockElems(0): blockFor = %d, want the default %d", got, maxBlockElems)
	}
}
