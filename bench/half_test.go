package bench

import (
	"fmt"
	"unsafe"

	"math"
	"math/rand/v2"
	"testing"

	"github.com/lossfuse/lossfuse/bench/naive"
	"github.com/lossfuse/lossfuse/bench/suite"
	"github.com/lossfuse/lossfuse/kernels"
)

// BenchmarkHalf times the four 16-bit slice conversions on 2^20 elements
// (4 MiB of float32, 2 MiB of 16-bit values) on every backend and the
// naive loop, in ns per element:
//
//	go test -run '^$' -bench Half -benchtime 200x ./bench
func BenchmarkHalf(b *testing.B) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(18, 1))
	f32 := make([]float32, n)
	for i := range f32 {
		f32[i] = float32(rng.NormFloat64() * math.Exp(rng.Float64()*10-5))
	}
	h := make([]uint16, n)
	out32 := make([]float32, n)
	bf := unsafe.Slice((*kernels.BF16)(unsafe.Pointer(&h[0])), n)
	f := unsafe.Slice((*kernels.F16)(unsafe.Pointer(&h[0])), n)
	for i := range h { // a mix of ordinary values of either format
		h[i] = uint16(kernels.F16FromFloat32(f32[i]))
	}
	type conv struct {
		name   string
		kernel func() error
		naive  func()
	}
	convs := []conv{
		{"BF16ToFloat32", func() error { return kernels.BF16ToFloat32(out32, bf) }, func() { naive.BF16ToFloat32(out32, h) }},
		{"Float32ToBF16", func() error { return kernels.Float32ToBF16(bf, f32) }, func() { naive.Float32ToBF16(h, f32) }},
		{"F16ToFloat32", func() error { return kernels.F16ToFloat32(out32, f) }, func() { naive.F16ToFloat32(out32, h) }},
		{"Float32ToF16", func() error { return kernels.Float32ToF16(f, f32) }, func() { naive.Float32ToF16(h, f32) }},
	}
	for _, c := range convs {
		for _, isa := range suite.Isas() {
			b.Run(c.name+"/n=1M/isa="+isa, func(b *testing.B) {
				restore, err := suite.Select(isa)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				b.SetBytes(6 * n)
				iters := 0
				for b.Loop() {
					iters++
					if isa == suite.Naive {
						c.naive()
					} else if err := c.kernel(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iters)/n, "ns/elem")
			})
		}
	}
}

// TestNaiveHalf: the baseline converts as the kernels do (every 16-bit
// value, and float32 patterns of every kind), so that the benchmark
// compares equal work.
func TestNaiveHalf(t *testing.T) {
	h := make([]uint16, 1<<16)
	for i := range h {
		h[i] = uint16(i)
	}
	got, want := make([]float32, len(h)), make([]float32, len(h))
	naive.F16ToFloat32(got, h)
	for i := range h {
		want[i] = kernels.F16(h[i]).Float32()
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("F16ToFloat32(%#04x) = %#08x, want %#08x", h[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
	f := make([]float32, 1<<20)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range f {
		f[i] = math.Float32frombits(rng.Uint32())
		if i%2 == 0 { // near the binary16 range
			f[i] = math.Float32frombits(0x33000000 + rng.Uint32()%0x14800000)
		}
	}
	o := make([]uint16, len(f))
	naive.Float32ToF16(o, f)
	for i, x := range f {
		if w := uint16(kernels.F16FromFloat32(x)); o[i] != w {
			t.Fatalf("Float32ToF16(%#08x) = %#04x, want %#04x", math.Float32bits(x), o[i], w)
		}
	}
	naive.Float32ToBF16(o, f)
	for i, x := range f {
		if w := uint16(kernels.BF16FromFloat32(x)); o[i] != w {
			t.Fatalf("Float32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(x), o[i], w)
		}
	}
}

// BenchmarkCrossEntropyHalf times cross-entropy forward and backward with
// 16-bit logits beside the float32 kernel on the same logits, in ns per
// element, at the shapes of issue 18 (and a short-row one): dtype=f32 is
// CrossEntropy on float32, bf16 and f16 CrossEntropyHalf with a gradient in
// the logits' type, bf16-g32 with a float32 gradient. Each call reads its
// own copy of the inputs, so that the logits come from memory as in
// training:
//
//	go test -run '^$' -bench CrossEntropyHalf -benchtime 30x ./bench
func BenchmarkCrossEntropyHalf(b *testing.B) {
	shapes := [][2]int{{256, 32000}, {64, 128256}, {4096, 10}}
	for _, sh := range shapes {
		n, k := sh[0], sh[1]
		const copies = 4 // 4 × 64 MiB of float32 logits and gradients
		rng := rand.New(rand.NewPCG(uint64(k), 2))
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.IntN(k))
		}
		f32 := make([][]float32, copies)
		g32 := make([][]float32, copies)
		bf := make([][]kernels.BF16, copies)
		fh := make([][]kernels.F16, copies)
		g16 := make([][]kernels.BF16, copies)
		gf := make([][]kernels.F16, copies)
		for c := range copies {
			f32[c], g32[c] = make([]float32, n*k), make([]float32, n*k)
			bf[c], fh[c] = make([]kernels.BF16, n*k), make([]kernels.F16, n*k)
			g16[c], gf[c] = make([]kernels.BF16, n*k), make([]kernels.F16, n*k)
			for i := range f32[c] {
				v := float32(rng.NormFloat64() * 3)
				bf[c][i], fh[c][i] = kernels.BF16FromFloat32(v), kernels.F16FromFloat32(v)
				f32[c][i] = bf[c][i].Float32()
			}
		}
		for _, dt := range []string{"f32", "bf16", "bf16-g32", "f16"} {
			for _, isa := range suite.Isas() {
				if isa == suite.Naive {
					continue
				}
				b.Run(fmt.Sprintf("N×K=%d×%d/dtype=%s/isa=%s", n, k, dt, isa), func(b *testing.B) {
					restore, err := suite.Select(isa)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					iters := 0
					var err2 error
					for b.Loop() {
						c := iters % copies
						iters++
						switch dt {
						case "f32":
							_, err2 = kernels.CrossEntropy(f32[c], targets, n, k, g32[c], nil)
						case "bf16":
							_, err2 = kernels.CrossEntropyHalf(bf[c], targets, n, k, g16[c], nil)
						case "bf16-g32":
							_, err2 = kernels.CrossEntropyHalf(bf[c], targets, n, k, g32[c], nil)
						case "f16":
							_, err2 = kernels.CrossEntropyHalf(fh[c], targets, n, k, gf[c], nil)
						}
						if err2 != nil {
							b.Fatal(err2)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iters)/float64(n*k), "ns/elem")
				})
			}
		}
	}
}
