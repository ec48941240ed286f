package kernels

import "unsafe"

// span is the byte range a slice covers.
type span struct{ lo, hi uintptr }

func spanOf[T any](s []T) span {
	if len(s) == 0 {
		return span{}
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return span{lo, lo + uintptr(len(s))*unsafe.Sizeof(s[0])}
}

// identical reports whether two slices cover exactly the same memory.
func (a span) identical(b span) bool { return a == b }

// overlaps reports whether two non-empty ranges share any byte.
func (a span) overlaps(b span) bool {
	return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi
}

// checkOutputs rejects an output that overlaps any other buffer, except an
// output that is exactly one of the in-place inputs.
func checkOutputs(outs []span, ins []span, inPlace span) error {
	for i, o := range outs {
		for _, in := range ins {
			if o.overlaps(in) && !(o.identical(in) && in.identical(inPlace)) {
				return wrap(ErrOverlap, "an output buffer overlaps an input buffer (only the exact in-place gradient is allowed)")
			}
		}
		for _, o2 := range outs[i+1:] {
			if o.overlaps(o2) {
				return wrap(ErrOverlap, "two output buffers overlap")
			}
		}
	}
	return nil
}
