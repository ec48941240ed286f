package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// suffix names the ISA in a symbol: lseRowsAVX2, lseRowsAVX512.
func suffix(s *x86.ISA) string { return strings.ToUpper(s.Name) }

// docf attaches the stub's doc comment; the first line's %s is the name.
func docf(name string, lines ...string) {
	lines[0] = fmt.Sprintf(lines[0], name)
	Doc(lines...)
}
