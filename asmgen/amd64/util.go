package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// suffix names the ISA in a symbol: lseRowsAVX2, lseRowsAVX512.
// float64 kernels carry a D before it: lseRowsDAVX2.
func suffix(s *x86.ISA) string {
	if s.F64 {
		return "D" + strings.ToUpper(s.Name)
	}
	return strings.ToUpper(s.Name)
}

// sigT is a stub signature with float32 replaced by the ISA's element type.
func sigT(s *x86.ISA, sig string) string {
	if s.F64 {
		return strings.ReplaceAll(sig, "float32", "float64")
	}
	return sig
}

// docf attaches the stub's doc comment; the first line's %s is the name.
func docf(name string, lines ...string) {
	lines[0] = fmt.Sprintf(lines[0], name)
	Doc(lines...)
}

// storeIfSet writes the vector v to m unless the pointer p (m's base) is
// nil: an optional per-row output.
func storeIfSet(p reg.GPVirtual, v reg.VecVirtual, m Mem) {
	skip := x86.NewLabel("nostore")
	TESTQ(p, p)
	JZ(LabelRef(skip))
	VMOVUPS(v, m)
	Label(skip)
}
