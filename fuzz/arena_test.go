package fuzz

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
)

// A buffer of one call, as the case wants it laid out.
type buf[T kernels.Float] struct {
	name   string
	n      int // length; absent buffers are nil slices
	absent bool
	data   []T  // initial contents of an input (nil for an output)
	out    bool // the call may write it
	// anchor ≥ 0 places this buffer at offset off from buffer anchor's start
	// (an in-place gradient, or a deliberate overlap); −1 places it apart.
	anchor, off int
}

// arena holds every float buffer of one call in one slice, apart from each
// other (with a misaligned start and guard elements between them) or
// overlapping as the case asks, so that after the call a check can see
// whether anything outside the outputs changed.
type arena[T kernels.Float] struct {
	mem   []T
	start []int // per buffer
	bufs  []buf[T]
	slice [][]T // per buffer, nil when absent
	snap  []T   // mem before the call
}

// sentinel fills every element the call has no business writing: a quiet
// NaN with a payload no arithmetic produces, so an output element the kernel
// forgot to write is recognisable even where the reference is NaN.
func sentinel[T kernels.Float]() T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return T(math.Float32frombits(0x7fdeadbe))
	}
	return T(math.Float64frombits(0x7ffdeadbeefcafe0))
}

// newArena lays the buffers out. shift (0..15) misaligns the first buffer
// and varies the gaps between the others.
func newArena[T kernels.Float](bufs []buf[T], shift int) *arena[T] {
	a := &arena[T]{bufs: bufs, start: make([]int, len(bufs)), slice: make([][]T, len(bufs))}
	pos := 1 + shift
	lo := 0
	for i, b := range bufs {
		if b.absent {
			continue
		}
		if b.anchor >= 0 {
			a.start[i] = a.start[b.anchor] + b.off
			lo = min(lo, a.start[i])
		} else {
			a.start[i] = pos
			pos += b.n + 1 + (shift+3*i)%5
		}
		pos = max(pos, a.start[i]+b.n+1)
	}
	// A buffer placed before the first one moves everything right.
	for i := range a.start {
		a.start[i] -= lo
	}
	a.mem = make([]T, pos-lo+1)
	s := sentinel[T]()
	for i := range a.mem {
		a.mem[i] = s
	}
	for i, b := range bufs {
		if b.absent {
			continue
		}
		// Full slice expressions: a kernel must not reach past len either.
		a.slice[i] = a.mem[a.start[i] : a.start[i]+b.n : a.start[i]+b.n]
		if b.n == 0 {
			a.slice[i] = make([]T, 0) // non-nil and empty, away from the arena
		}
	}
	for i, b := range bufs {
		if !b.absent && b.data != nil {
			copy(a.slice[i], b.data)
		}
	}
	a.snap = append([]T(nil), a.mem...)
	return a
}

// get returns the slice of the named buffer (nil when absent).
func (a *arena[T]) get(name string) []T {
	for i, b := range a.bufs {
		if b.name == name {
			return a.slice[i]
		}
	}
	panic("no buffer " + name)
}

// opt is get for a buffer the case may not have (nil then).
func (a *arena[T]) opt(name string) []T {
	for i, b := range a.bufs {
		if b.name == name {
			return a.slice[i]
		}
	}
	return nil
}

// unchanged reports the first element that differs from before the call,
// outside the outputs when skipOutputs is set (after a successful call) or
// anywhere (after an error).
func (a *arena[T]) unchanged(skipOutputs bool) error {
	written := make([]bool, len(a.mem))
	if skipOutputs {
		for i, b := range a.bufs {
			if b.out && !b.absent {
				for j := a.start[i]; j < a.start[i]+b.n; j++ {
					written[j] = true
				}
			}
		}
	}
	for j := range a.mem {
		if !written[j] && !sameBits(a.mem[j], a.snap[j]) {
			return fmt.Errorf("arena element %d (%s) changed from %v to %v", j, a.where(j), a.snap[j], a.mem[j])
		}
	}
	return nil
}

// where names the buffer(s) covering arena element j.
func (a *arena[T]) where(j int) string {
	s := ""
	for i, b := range a.bufs {
		if !b.absent && j >= a.start[i] && j < a.start[i]+b.n {
			if s != "" {
				s += "+"
			}
			s += fmt.Sprintf("%s[%d]", b.name, j-a.start[i])
		}
	}
	if s == "" {
		return "guard"
	}
	return s
}

// unwritten reports an output element still holding the sentinel.
func unwritten[T kernels.Float](name string, s []T) error {
	for i, v := range s {
		if sameBits(v, sentinel[T]()) {
			return fmt.Errorf("%s[%d] was not written", name, i)
		}
	}
	return nil
}
