package fuzz

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// kernelCase is one decoded call of some family, for element type T.
type kernelCase[T kernels.Float] interface {
	// layout returns the float buffers and the misalignment shift.
	layout() ([]buf[T], int)
	// call runs the kernel on the arena's buffers (and checks that the
	// non-float inputs it owns, such as targets, were not modified).
	call(a *arena[T]) (T, error)
	faultOf() fault
	// ref asks the float64 reference the same question (on an arena the
	// kernels have not run on): its result, or the error class it rejects
	// the call with.
	ref(a *arena[T]) (*reference.Result, error)
	// check compares a successful call's loss and outputs with the
	// reference under the accuracy contract.
	check(r *reference.Result, a *arena[T], loss T) error
	// domain returns why a valid case's data lies outside the documented
	// domain (its values are not compared), or "".
	domain() string
	// known returns every known finding (known_test.go) whose input class
	// holds output element e on the backend.
	known(backend string, r *reference.Result, e elem) []string
	// output names the arena buffer behind a reference.Check element name.
	output(name string) string
	String() string
}

// runnable is a decoded case of any family and element type.
type runnable interface {
	// failures runs the case and describes every check that failed,
	// counting what was checked in tl (which may be nil) under target.
	failures(tl *tally, target string) []string
	// size is the number of float elements in the call's buffers.
	size() int
	String() string
}

type typed[T kernels.Float] struct{ c kernelCase[T] }

func (r typed[T]) failures(tl *tally, target string) []string { return failures(r.c, tl, target) }
func (r typed[T]) String() string                             { return r.c.String() }
func (r typed[T]) size() int {
	bufs, _ := r.c.layout()
	n := 0
	for _, b := range bufs {
		if !b.absent {
			n += b.n
		}
	}
	return n
}

// decoder turns a source into a case of one family.
type decoder func(s *source) runnable

// byType decodes the element type, then the case.
func byType(s *source, f32 func(*source) kernelCase[float32], f64 func(*source) kernelCase[float64]) runnable {
	if s.intn("f64", 2) == 1 {
		return typed[float64]{f64(s)}
	}
	return typed[float32]{f32(s)}
}

// fuzzFamily runs the family's decoder on the fuzzer's bytes. The seeds
// under testdata/fuzz/<FuzzName>/ are found by go test itself.
func fuzzFamily(f *testing.F, decode decoder) {
	engine := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decode(newSource(data))
		if engine && c.size() > maxEngineElems {
			// Under the fuzzing engine (coverage-instrumented, minimising)
			// a call of millions of elements runs for tens of seconds and the
			// coordinator takes its worker for hung. The committed corpus,
			// TestRandomInputs and the kernels' long-row tests run them.
			t.Skipf("%d elements: too large for the fuzzing engine", c.size())
		}
		for _, msg := range c.failures(nil, "") {
			t.Error(msg)
		}
	})
}

// maxEngineElems bounds the float elements (every buffer) of a call run
// under the fuzzing engine.
const maxEngineElems = 1 << 19

// failures runs c on every backend this CPU supports and checks each:
// the error decision, no write outside the outputs (none at all after an
// error), every output written, and agreement with the reference.
func failures[T kernels.Float](c kernelCase[T], tl *tally, target string) []string {
	r, refErr := c.ref(newArena(c.layout()))
	if err := refDecision(c.faultOf(), refErr); err != nil {
		return []string{fmt.Sprintf("%v\ncase: %v", err, c)}
	}
	var zero T
	dtype := fmt.Sprintf("%T", zero)
	var msgs []string
	for _, name := range kernels.Backends() {
		o, err := runOn(name, c, r)
		tl.add(target, name, dtype, o)
		if err != nil && err == o.checkErr && measuring {
			tl.sample(target, name, dtype, o, fmt.Sprintf("backend %s: %v\ncase: %v", name, err, c))
			continue
		}
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("backend %s: %v\ncase: %v", name, err, c))
		}
	}
	return msgs
}

// outcome is what runOn did with one case on one backend.
type outcome struct {
	valid     bool     // a valid call (no fault, no value a rule rejects), accepted
	domain    string   // why its data lies outside the documented domain, or ""
	filters   []string // the known finding whose class holds every violating element
	skippedBy string   // that finding, when it excused the violations (not strict)
	checkErr  error    // the value comparison's verdict (nil: within the contract)
}

// measuring (LOSSFUSE_FUZZ_MEASURE=1) tallies value-comparison failures
// instead of reporting them, keeping a few samples per filter (with
// LOSSFUSE_FUZZ_STRICT=1: what each filter would hide).
var measuring = os.Getenv("LOSSFUSE_FUZZ_MEASURE") != ""

// refDecision checks that the reference, which validates on its own from
// the documented rules, rejects exactly the broken cases, with the error
// the fault calls for. Overlap is the one rule it cannot see, and it knows
// no primitive's dst (the kernels' decision is checked against the fault in
// any case).
func refDecision(f fault, refErr error) error {
	switch {
	case f.want == nil && refErr != nil:
		return fmt.Errorf("the reference rejects a valid case: %v", refErr)
	case f.want != nil && refErr != nil && !f.is(refErr):
		return fmt.Errorf("the reference rejects the case with %v, want %v", refErr, f.want)
	case f.want != nil && refErr == nil && f.kind != faultOverlap && !f.refBlind:
		return fmt.Errorf("the reference accepts an invalid case (%v)", f.want)
	}
	return nil
}

func runOn[T kernels.Float](backend string, c kernelCase[T], r *reference.Result) (o outcome, err error) {
	restore, err := kernels.UseBackend(backend)
	if err != nil {
		return o, err
	}
	defer restore()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	bufs, shift := c.layout()
	a := newArena(bufs, shift)
	loss, callErr := c.call(a)
	if err := c.faultOf().checkErr(callErr); err != nil {
		return o, err
	}
	if callErr != nil {
		if err := a.unchanged(false); err != nil {
			return o, fmt.Errorf("after error %q: %v", callErr, err)
		}
		return o, nil
	}
	o.valid = c.faultOf().want == nil
	if err := a.unchanged(true); err != nil {
		return o, err
	}
	if o.domain = c.domain(); o.domain != "" {
		return o, nil // the API documents nothing there
	}
	for i, b := range a.bufs {
		// An in-place output starts with the input's values, so only
		// outputs of their own can show a forgotten element.
		if b.out && !b.absent && b.anchor < 0 {
			if err := unwritten(b.name, a.slice[i]); err != nil {
				return o, err
			}
		}
	}
	// A violation is excused when every violating element lies in a known
	// finding's class (known_test.go); the verdict is kept either way so
	// that the tally can count what each class excuses.
	o.checkErr = c.check(r, a, loss)
	if o.checkErr != nil {
		id, rest := excuse(c, backend, r, a, loss, o.checkErr)
		if id != "" {
			o.filters = []string{id}
		}
		if rest != nil {
			o.checkErr = rest // the first violation no class holds
			o.filters = nil
		} else if !strict {
			o.skippedBy = id
			return o, nil
		}
	}
	return o, o.checkErr
}

// describe formats a case for a failure message, eliding long arrays.
func describe(parts ...any) string {
	var sb strings.Builder
	for i := 0; i+1 < len(parts); i += 2 {
		fmt.Fprintf(&sb, "%v=%s ", parts[i], short(parts[i+1]))
	}
	return strings.TrimSpace(sb.String())
}

// fullDescribe turns off the eliding (the seed round-trip test compares
// whole descriptions).
var fullDescribe = os.Getenv("LOSSFUSE_FUZZ_VERBOSE") != ""

func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 400 && !fullDescribe {
		s = s[:400] + fmt.Sprintf("…(%d chars; LOSSFUSE_FUZZ_VERBOSE=1 prints all)", len(s))
	}
	return s
}

// corpusDir is where go test looks for a fuzz target's seeds.
func corpusDir(target string) string { return filepath.Join("testdata", "fuzz", target) }
