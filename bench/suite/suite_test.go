package suite

import (
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/bench/naive"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
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

// TestDistillOracle checks package reference's DistillReverseKL and
// DistillJSD, the oracle of the suite's error columns: the reverse KL's rows
// are the forward KL with student and teacher swapped, and both gradients
// are central differences of the oracle's loss.
func TestDistillOracle(t *testing.T) {
	const n, k = 3, 7
	for _, name := range []string{"DistillReverseKL", "DistillJSD"} {
		d := Prepare(Lookup(name), Shape{n, k}, F64, 5)
		s, te := d.f64.x, d.f64.y
		div, beta := kernels.ReverseKL, 0.0
		if name == "DistillJSD" {
			div, beta = kernels.JSD, DistillBeta
		}
		r, err := distillOracle(s, te, n, k, div, beta)
		if err != nil {
			t.Fatal(err)
		}
		if div == kernels.ReverseKL {
			sw, err := reference.Distill(te, s, n, k, &kernels.DistillOptions[float64]{Temperature: DistillTemperature, ScaleT2: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range r.Items {
				if !(math.Abs(v-sw.Items[i]) <= 1e-14*math.Abs(v)) {
					t.Errorf("%s row %d: %v, forward KL with the inputs swapped %v", name, i, v, sw.Items[i])
				}
			}
		}
		x := append([]float64(nil), s...)
		lossAt := func() float64 {
			r, err := distillOracle(x, te, n, k, div, beta)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		const h = 1e-5
		for j := range x {
			x[j] = s[j] + h
			up := lossAt()
			x[j] = s[j] - h
			down := lossAt()
			x[j] = s[j]
			if fd := (up - down) / (2 * h); !(math.Abs(fd-r.Grad[j]) <= 1e-8) {
				t.Errorf("%s grad[%d] = %v, central difference %v", name, j, r.Grad[j], fd)
			}
		}
		if !(r.Loss > 0 && r.LossTol > 0 && r.LossTol < 1e-12*r.Loss) {
			t.Errorf("%s: loss %v ± %v", name, r.Loss, r.LossTol)
		}
	}
}

// distillOracle is package reference's Distill at the suite's temperature.
func distillOracle(s, t []float64, n, k int, div kernels.Divergence, beta float64) (*reference.Result, error) {
	return reference.Distill(s, t, n, k, &kernels.DistillOptions[float64]{Divergence: div, Beta: beta,
		Temperature: DistillTemperature, ScaleT2: true})
}

// TestDistillJSDBeta checks that the naive loop, the oracle and the kernel
// give β to the teacher's KL(P‖M) alike: at the suite's β = ½ the JSD is
// symmetric in P and Q and a swapped β would go unseen.
func TestDistillJSDBeta(t *testing.T) {
	const n, k, beta = 4, 9, 0.25
	d := Prepare(Lookup("DistillJSD"), Shape{n, k}, F64, 2)
	s, te := d.f64.x, d.f64.y
	r, err := distillOracle(s, te, n, k, kernels.JSD, beta)
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := distillOracle(te, s, n, k, kernels.JSD, beta)
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(r.Loss-swapped.Loss) > 1e-3*r.Loss) {
		t.Fatalf("JSD at β = %v: %v, with P and Q swapped %v: the check cannot tell them apart", beta, r.Loss, swapped.Loss)
	}
	gn, gk := make([]float64, n*k), make([]float64, n*k)
	ln := naive.DistillJSD(s, te, n, k, DistillTemperature, beta, gn)
	lk, err := kernels.Distill(s, te, n, k, gk, &kernels.DistillOptions[float64]{Divergence: kernels.JSD, Beta: beta,
		Temperature: DistillTemperature, ScaleT2: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who  string
		loss float64
		grad []float64
	}{{"naive", ln, gn}, {"kernels", lk, gk}} {
		if e := maxErr(true, c.loss, r.Loss, c.grad, r.Grad); !(e <= 1e-12) {
			t.Errorf("%s.DistillJSD at β = %v: error %.3g against the oracle", c.who, beta, e)
		}
	}
}
