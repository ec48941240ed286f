package dataset

import (
	"math"
	"testing"
)

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		load    func() (*Set, error)
		n, d    int
		classes map[float64]int // nil for regression
	}{
		{Digits, 1797, 64, map[float64]int{0: 178, 1: 182, 2: 177, 3: 183, 4: 181, 5: 182, 6: 181, 7: 179, 8: 174, 9: 180}},
		{BreastCancer, 569, 30, map[float64]int{1: 212, 0: 357}}, // 1 = malignant after the flip
		{Diabetes, 442, 10, nil},
	} {
		s, err := c.load()
		if err != nil {
			t.Fatal(err)
		}
		if s.N != c.n || s.D != c.d || len(s.X) != c.n*c.d || len(s.Y) != c.n || len(s.Features) != c.d {
			t.Errorf("%s: N=%d D=%d len(X)=%d len(Y)=%d features=%d, want %d×%d", s.Name, s.N, s.D, len(s.X), len(s.Y), len(s.Features), c.n, c.d)
		}
		if c.classes != nil {
			got := map[float64]int{}
			for _, y := range s.Y {
				got[y]++
			}
			if len(got) != len(c.classes) {
				t.Errorf("%s: classes %v, want %v", s.Name, got, c.classes)
			}
			for y, n := range c.classes {
				if got[y] != n {
					t.Errorf("%s: class %v has %d rows, want %d", s.Name, y, got[y], n)
				}
			}
		}
	}
	// Spot checks against the first rows of the source files.
	d, _ := Diabetes()
	if d.X[0] != 59 || d.X[9] != 87 || d.Y[0] != 151 || d.Y[441] != 57 {
		t.Errorf("diabetes first row %v → %v, last target %v", d.Row(0), d.Y[0], d.Y[441])
	}
	b, _ := BreastCancer()
	if b.X[0] != 17.99 || b.Y[0] != 1 {
		t.Errorf("breast cancer first row starts %v, malignant=%v; want 17.99, 1", b.X[0], b.Y[0])
	}
}

func TestSplit(t *testing.T) {
	s, err := BreastCancer()
	if err != nil {
		t.Fatal(err)
	}
	for _, stratify := range []bool{false, true} {
		train, test := Split(s, 0.25, 3, stratify)
		again, _ := Split(s, 0.25, 3, stratify)
		if train.N+test.N != s.N || test.N < 140 || test.N > 144 {
			t.Fatalf("stratify=%v: %d + %d rows of %d", stratify, train.N, test.N, s.N)
		}
		for i := range train.X {
			if train.X[i] != again.X[i] {
				t.Fatalf("stratify=%v: the same seed gave a different split", stratify)
			}
		}
		// Every row lands in exactly one part (rows are distinct in this set).
		seen := map[[2]float64]int{}
		for _, p := range []*Set{train, test} {
			for i := 0; i < p.N; i++ {
				seen[[2]float64{p.Row(i)[0], p.Row(i)[1]}]++
			}
		}
		for i := 0; i < s.N; i++ {
			if seen[[2]float64{s.Row(i)[0], s.Row(i)[1]}] != 1 {
				t.Fatalf("stratify=%v: row %d is not in exactly one part", stratify, i)
			}
		}
		if stratify {
			var pos float64
			for _, y := range test.Y {
				pos += y
			}
			if pos != 53 { // round(0.25 · 212)
				t.Errorf("stratified test part has %v malignant rows, want 53", pos)
			}
		}
	}
}

func TestStandardize(t *testing.T) {
	s, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	train, test := Split(s, 0.25, 1, true)
	orig := append([]float64(nil), test.X...)
	Standardize(train, test)
	for j := 0; j < train.D; j++ {
		var mean, sq float64
		for i := 0; i < train.N; i++ {
			mean += train.X[i*train.D+j]
		}
		mean /= float64(train.N)
		for i := 0; i < train.N; i++ {
			sq += math.Pow(train.X[i*train.D+j]-mean, 2)
		}
		sd := math.Sqrt(sq / float64(train.N))
		if !(math.Abs(mean) <= 1e-12) || (sd != 0 && !(math.Abs(sd-1) <= 1e-12)) {
			t.Errorf("feature %d: train mean %g sd %g after standardising", j, mean, sd)
		}
	}
	changed := false
	for i := range orig {
		changed = changed || orig[i] != test.X[i]
	}
	if !changed {
		t.Error("the test part was not transformed")
	}
}
