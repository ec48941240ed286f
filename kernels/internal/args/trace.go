package args

// Trace, when non-nil, receives the name of every code path a backend's
// dispatch takes ("amd64/f32/ce/stashed", …): kernels/paths_test.go sets it
// to prove that each row of the path table (docs/paths.md) reaches the path
// it names. Production code never sets it. Set it only while no kernel runs
// on another goroutine.
var Trace func(path string)

// Took reports path to Trace. Backends call it at dispatch points (once per
// call, block or long row), never per element; path is a constant, so the
// call allocates nothing and costs a load and a branch when Trace is nil.
// kernels/paths_test.go reads the literal arguments of every Took and TookIf
// in the backend sources: each must be a row of the path table.
func Took(path string) {
	if Trace != nil {
		Trace(path)
	}
}

// TookIf is Took(yes) when c holds and Took(no) otherwise.
func TookIf(c bool, yes, no string) {
	if Trace != nil {
		if c {
			Trace(yes)
		} else {
			Trace(no)
		}
	}
}
