package suite

import (
	"math"
	"testing"
)

// TestEveryKernelOnEveryIsa runs each kernel once on a small odd shape, on
// every backend and the naive baseline, in both element types, and checks
// the result against the reference. It guards the benchmark workload: a
// naive baseline that computed something else would make every speed-up in
// the report meaningless.
func TestEveryKernelOnEveryIsa(t *testing.T) {
	shape := Shape{N: 7, K: 13}
	for _, k := range Kernels {
		for _, dt := range DTypes {
			d := Prepare(k, shape, dt, 3)
			// float32 outputs are rounded once; the naive loops and the
			// kernels both accumulate in float64.
			tol := 1e-5
			if dt == F64 {
				tol = 1e-12
			}
			for _, op := range k.Ops() {
				for _, isa := range Isas() {
					restore, err := Select(isa)
					if err != nil {
						t.Fatal(err)
					}
					acc, err := d.MaxError(op, isa)
					restore()
					if err != nil {
						t.Fatalf("%s %s %s %s: %v", k.Name, op, dt, isa, err)
					}
					if !(acc.MaxErr <= tol) {
						t.Errorf("%s %s %s isa=%s: error %.3g > %.g", k.Name, op, dt, isa, acc.MaxErr, tol)
					}
					if !(acc.Budget <= 1) {
						t.Errorf("%s %s %s isa=%s: outside the accuracy contract: %v", k.Name, op, dt, isa, acc.Violation)
					}
				}
			}
		}
	}
}

func TestTraffic(t *testing.T) {
	c := Case{Kernel: Lookup("CrossEntropy"), Op: FwdBwd, DType: F32, Shape: Shape{256, 32000}}
	r, w := c.Traffic()
	if r != 256*32000*4+256*4 || w != 256*32000*4 {
		t.Errorf("CrossEntropy fwdbwd f32 traffic = %d read, %d written", r, w)
	}
	c = Case{Kernel: Lookup("LogSumExp"), Op: Fwd, DType: F64, Shape: Shape{4096, 256}}
	if r, w := c.Traffic(); r != 4096*256*8 || w != 4096*8 {
		t.Errorf("LogSumExp f64 traffic = %d read, %d written", r, w)
	}
}

func TestParseShape(t *testing.T) {
	if s, err := ParseShape(" 64x128256"); err != nil || s != (Shape{64, 128256}) {
		t.Errorf("ParseShape(64x128256) = %v, %v", s, err)
	}
	for _, bad := range []string{"", "12", "0x5", "-1x4", "ax3", "3x", "65536x65536"} {
		if _, err := ParseShape(bad); err == nil {
			t.Errorf("ParseShape(%q) accepted", bad)
		}
	}
}

func TestRunnersDoNotAllocate(t *testing.T) {
	for _, k := range Kernels {
		d := Prepare(k, Shape{3, 5}, F32, 1)
		for _, isa := range Isas() {
			restore, err := Select(isa)
			if err != nil {
				t.Fatal(err)
			}
			call := d.Runner(k.Ops()[len(k.Ops())-1], isa)
			if a := testing.AllocsPerRun(10, func() { call() }); a != 0 {
				t.Errorf("%s isa=%s allocates %v times per call", k.Name, isa, a)
			}
			restore()
		}
	}
}

func TestMaxErr(t *testing.T) {
	ref := []float64{1, -4, 0}
	if e := maxErr(true, 2.002, 2, []float64{1, -4, 0.004}, ref); !(math.Abs(e-1e-3) <= 1e-15) {
		t.Errorf("maxErr = %v, want 1e-3 (loss rel 1e-3, output 0.004/4)", e)
	}
	if e := maxErr(true, 2, 2, []float64{math.NaN(), -4, 0}, ref); !math.IsInf(e, 1) {
		t.Errorf("maxErr with NaN output = %v, want +Inf", e)
	}
}
