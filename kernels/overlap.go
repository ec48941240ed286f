package kernels

import (
	"fmt"
	"strings"
	"unsafe"
)

// span is the byte range a slice covers.
type span struct{ lo, hi uintptr }

func spanOf[T any](s []T) span {
	if len(s) == 0 {
		return span{}
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return span{lo, lo + uintptr(len(s))*unsafe.Sizeof(s[0])}
}

// overlaps reports whether two non-empty ranges share any byte.
func (a span) overlaps(b span) bool {
	return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi
}

// buffer is a slice's memory with the name errors give it.
type buffer struct {
	name string
	span span
	// inPlace marks an output that may be exactly the call's first input
	// (an element-wise result: the gradient, a per-element loss, a
	// primitive's dst), which the kernels then read before they write.
	inPlace bool
}

func buf[T any](name string, s []T) buffer { return buffer{name: name, span: spanOf(s)} }

// inPlaceBuf is buf for an output that may be exactly the first input.
func inPlaceBuf[T any](name string, s []T) buffer {
	return buffer{name: name, span: spanOf(s), inPlace: true}
}

// checkOutputs rejects an output that shares memory with an input or with
// another output, except an inPlace output that is exactly ins[0]. The
// error names both buffers and says what is allowed.
func checkOutputs(outs []buffer, ins []buffer) error {
	for i, o := range outs {
		for j, in := range ins {
			if !o.span.overlaps(in.span) || j == 0 && o.inPlace && o.span == in.span {
				continue
			}
			return overlapErr(o, in, ins[0], outs)
		}
		for _, o2 := range outs[i+1:] {
			if o.span.overlaps(o2.span) {
				return overlapErr(o, o2, ins[0], outs)
			}
		}
	}
	return nil
}

func overlapErr(a, b, first buffer, outs []buffer) error {
	how := "partially overlaps"
	if a.span == b.span {
		how = "is the same memory as"
	}
	allowed := "outputs must not share memory with inputs or with each other"
	var names []string
	for _, o := range outs {
		if o.inPlace {
			names = append(names, o.name)
		}
	}
	if names != nil {
		allowed += fmt.Sprintf("; only %s may be exactly %s (in place)", strings.Join(names, " or "), first.name)
	}
	return wrapf(ErrOverlap, "%s %s %s: %s", a.name, how, b.name, allowed)
}
