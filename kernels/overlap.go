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

// buffers are one call's outputs and inputs (absent ones are empty spans),
// checked on every call: fixed arrays, so that the check costs a few
// comparisons and no names are touched unless it fails.
type buffers struct {
	out [3]span
	in  [4]span
	// inPlace has bit i set when output i may be exactly in[0] (an
	// element-wise result: the gradient, a per-element loss, a primitive's
	// dst), which the kernels read before they write.
	inPlace uint8
	// inPlaceSecond lets those outputs be exactly in[1] as well (a
	// backward pass may write dx over dy or over the saved tensor).
	inPlaceSecond bool
	names         *bufferNames
}

// bufferNames are the names errors give a family's buffers.
type bufferNames struct {
	out [3]string
	in  [4]string
}

var (
	ceNames          = &bufferNames{out: [3]string{"grad", "RowLoss", "RowLSE"}, in: [4]string{"logits", "targets", "Weight"}}
	ceProbsNames     = &bufferNames{out: [3]string{"grad", "RowLoss", "RowLSE"}, in: [4]string{"logits", "probs", "Weight"}}
	distillNames     = &bufferNames{out: [3]string{"grad", "RowLoss"}, in: [4]string{"student", "teacher", "Labels"}}
	klNames          = &bufferNames{out: [3]string{"grad", "Loss"}, in: [4]string{"input", "target"}}
	nllNames         = &bufferNames{out: [3]string{"grad", "RowLoss"}, in: [4]string{"logProbs", "targets", "Weight"}}
	focalNames       = &bufferNames{out: [3]string{"grad", "RowLoss"}, in: [4]string{"logits", "targets", "Alpha"}}
	binaryNames      = &bufferNames{out: [3]string{"grad", "Loss"}, in: [4]string{"x", "y", "Weight", "PosWeight"}}
	binaryClassNames = &bufferNames{out: [3]string{"grad", "Loss"}, in: [4]string{"x", "y", "ClassWeight", "PosWeight"}}
	binaryRowNames   = &bufferNames{out: [3]string{"grad", "Loss"}, in: [4]string{"x", "y", "RowWeight", "PosWeight"}}
	regNames         = &bufferNames{out: [3]string{"grad", "Loss"}, in: [4]string{"pred", "target", "Weight"}}
	primitiveNames   = &bufferNames{out: [3]string{"dst"}, in: [4]string{"x"}}

	softmaxBackwardNames = &bufferNames{out: [3]string{"dx"}, in: [4]string{"dy", "y"}}
	lseBackwardNames     = &bufferNames{out: [3]string{"dx"}, in: [4]string{"x", "dy", "lse"}}
	sigmoidBackwardNames = &bufferNames{out: [3]string{"dx"}, in: [4]string{"dy", "y"}}
	xBackwardNames       = &bufferNames{out: [3]string{"dx"}, in: [4]string{"dy", "x"}}
)

// check rejects an output that shares memory with an input or with another
// output, except an inPlace output that is exactly in[0]. The error names
// both buffers and says what is allowed.
func (b *buffers) check() error {
	for i := range b.out {
		o := b.out[i]
		if o.lo == o.hi {
			continue
		}
		for j := range b.in {
			exact := j == 0 || j == 1 && b.inPlaceSecond
			if o.overlaps(b.in[j]) && !(exact && b.inPlace&(1<<i) != 0 && o == b.in[j]) {
				return b.overlapErr(b.names.out[i], o, b.names.in[j], b.in[j])
			}
		}
		for j := i + 1; j < len(b.out); j++ {
			if o.overlaps(b.out[j]) {
				return b.overlapErr(b.names.out[i], o, b.names.out[j], b.out[j])
			}
		}
	}
	return nil
}

func (b *buffers) overlapErr(aName string, a span, bName string, bs span) error {
	how := "partially overlaps"
	if a == bs {
		how = "is the same memory as"
	}
	allowed := "outputs must not share memory with inputs or with each other"
	var names []string
	for i, n := range b.names.out {
		if b.inPlace&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if names != nil {
		in := b.names.in[0]
		if b.inPlaceSecond {
			in += " or " + b.names.in[1]
		}
		allowed += fmt.Sprintf("; only %s may be exactly %s (in place)", strings.Join(names, " or "), in)
	}
	return wrapf(ErrOverlap, "%s %s %s: %s", aName, how, bName, allowed)
}
