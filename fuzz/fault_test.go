package fuzz

import (
	"errors"
	"fmt"
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// Faults make a case invalid on purpose, one way at a time, so that the
// error the call must return is known: the kernels must all reject it with
// that error and leave every buffer as it was.
const (
	faultNone = iota
	faultShape
	faultLength
	faultTarget
	faultWeight
	faultOption
	faultOverlap
)

// firstFaultCode is the first of the "fault" decision's 32 values that
// breaks the case: about a third of the inputs are invalid.
const firstFaultCode = 22

type fault struct {
	kind      int
	what, how int // which buffer or option, and how it is broken
	want      error
	// refBlind marks a fault the reference cannot see (a buffer it does
	// not take).
	refBlind bool
	// alt is a second error the call may return instead of want: the
	// case's values break a rule too (valueFault) and the kernels may
	// check either first.
	alt error
}

// is reports whether err is the error f calls for.
func (f fault) is(err error) bool {
	return errors.Is(err, f.want) || f.alt != nil && errors.Is(err, f.alt)
}

// withValues adds to f the error the case's values call for (a weight
// that is not finite, a binary target or probability outside [0, 1]), or
// nil: a valid case becomes invalid, and a case broken on purpose may fail
// with either error (the reference checks the lengths only of the buffers
// it takes) unless its fault is the shape, which is checked first.
func withValues(f fault, valueErr error) fault {
	switch {
	case valueErr == nil || f.kind == faultShape:
		return f
	case f.want == nil:
		kind := faultWeight
		if valueErr == kernels.ErrTarget {
			kind = faultTarget
		}
		return fault{kind: kind, want: valueErr}
	}
	f.alt = valueErr
	return f
}

// finiteWeights reports whether every weight is finite and ≥ 0 (the
// kernels reject NaN and ±Inf weights with ErrWeight).
func finiteWeights[T kernels.Float](ws ...[]T) bool {
	for _, w := range ws {
		for _, v := range w {
			if !(v >= 0 && float64(v) <= math.MaxFloat64) {
				return false
			}
		}
	}
	return true
}

// unitValues reports whether every value lies in [0, 1] or is NaN (binary
// targets and probabilities outside it are rejected with ErrTarget).
func unitValues[T kernels.Float](s []T) bool {
	for _, v := range s {
		if v < 0 || v > 1 {
			return false
		}
	}
	return true
}

// decodeFault draws the fault; most inputs are valid. kinds lists the
// faults the family can have (a family without targets has no faultTarget).
func decodeFault(s *source, kinds ...int) fault {
	f := fault{kind: faultNone}
	var c int
	if s.script != nil { // a seed names the kind of fault
		if kind := s.script.Int("fault"); kind != faultNone {
			c = firstFaultCode
			for kinds[c-firstFaultCode] != kind {
				c++
			}
		}
		s.record("fault", 32, c)
	} else {
		c = s.intn("fault", 32)
	}
	if c >= firstFaultCode {
		f.kind = kinds[(c-firstFaultCode)%len(kinds)]
	}
	f.what = s.intn("fault.what", 256)
	f.how = s.intn("fault.how", 256)
	f.want = map[int]error{
		faultShape: kernels.ErrShape, faultLength: kernels.ErrLength, faultTarget: kernels.ErrTarget,
		faultWeight: kernels.ErrWeight, faultOption: kernels.ErrOption, faultOverlap: kernels.ErrOverlap,
	}[f.kind]
	return f
}

// checkErr compares a call's error with the one the fault calls for.
func (f fault) checkErr(err error) error {
	switch {
	case f.want == nil && err != nil:
		return fmt.Errorf("valid input rejected: %v", err)
	case f.want != nil && err == nil:
		return fmt.Errorf("invalid input (%v) accepted", f.want)
	case f.want != nil && !f.is(err):
		return fmt.Errorf("got error %v, want %v", err, f.want)
	}
	return nil
}

// badShape returns an invalid (n, k): a zero or negative dimension, or a
// product that overflows.
func badShape(how, n, k int) (int, int) {
	switch how % 6 {
	case 0:
		return 0, k
	case 1:
		return n, 0
	case 2:
		return -n, k
	case 3:
		return n, -1
	case 4:
		return math.MaxInt/2 + 1, 2
	default:
		return 1, int(kAboveInt32)
	}
}

// badLength returns a wrong length for a buffer of length n: one short, one
// long, or empty (a non-nil empty slice is not an absent optional buffer).
func badLength(how, n int) int {
	switch how % 3 {
	case 0:
		if n > 1 {
			return n - 1
		}
		return n + 1
	case 1:
		return n + 1
	default:
		if n > 0 {
			return 0
		}
		return 1
	}
}

// negativeWeights are the values that make a weight invalid.
var negativeWeights = []float64{-1, -math.SmallestNonzeroFloat32, -math.Inf(1), -1e4, -0.5}

// partialOffset returns where to put a buffer of length m so that it
// partly overlaps one of length n: it starts inside the other or ends inside
// it, without being identical to it unless identical is allowed to count
// (two outputs that coincide, or an output on a non-in-place input).
func partialOffset(how, m, n int, identicalBad bool) (off int, ok bool) {
	var offs []int
	for d := -(m - 1); d <= n-1; d++ {
		if d == 0 && m == n && !identicalBad {
			continue
		}
		offs = append(offs, d)
	}
	if len(offs) == 0 {
		return 0, false
	}
	return offs[how%len(offs)], true
}

// kAboveInt32 is MaxInt32 + 1, a variable so that the package builds where
// int has 32 bits (it wraps to a negative K there, as much a shape error).
var kAboveInt32 = int64(math.MaxInt32) + 1

// lossFaults lays out the buffers of a loss with two inputs, a gradient
// and a loss output (b in that order) and breaks them as f says: a slice
// of a bad length, or an output partly over another buffer. gradMode and
// lossOut follow the layout (an overlap with an absent output makes it
// present); none says the reduction is None, whose missing loss buffer is
// an ErrLength of its own.
func lossFaults[T kernels.Float](b []buf[T], f *fault, gradMode *int, lossOut *bool, none bool) []buf[T] {
	const in0, in1, grad, loss = 0, 1, 2, 3
	if *gradMode == gradInPlace {
		b[grad].anchor = in0
	}
	switch f.kind {
	case faultLength:
		if f.what < 0 { // a non-float buffer (labels) is the broken one
			return b
		}
		i := f.what % len(b)
		if b[i].absent {
			if i == loss && none {
				return b
			}
			b[i].absent = false
		}
		b[i].n = badLength(f.how, b[i].n)
		f.refBlind = i == grad
		if b[i].data != nil {
			b[i].data = resize(b[i].data, b[i].n)
		}
		if i == grad {
			b[i].anchor = -1
		}
	case faultOverlap:
		type pair struct{ out, on int }
		pairs := []pair{{grad, in0}, {loss, grad}, {grad, in1}, {loss, in0}, {loss, in1}}
		for try := 0; try < len(pairs); try++ {
			p := pairs[(f.what+try)%len(pairs)]
			off, ok := partialOffset(f.how, b[p.out].n, b[p.on].n, p.on != in0)
			if !ok {
				continue
			}
			b[p.out].absent, b[p.on].absent = false, false
			if p.on == grad {
				b[grad].anchor = -1
			}
			b[p.out].anchor, b[p.out].off = p.on, off
			if p.out == loss {
				*lossOut = true
			}
			if p.out == grad && *gradMode == gradNone {
				*gradMode = gradSeparate
			}
			return b
		}
		f.kind, f.want = faultNone, nil
	}
	return b
}
