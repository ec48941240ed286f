package main

import (
	"slices"
	"strings"
	"testing"
)

// TestFindCliffs: a series following fixed + per-row + per-element cost
// has no cliff, however steep its ns/elem at small shapes; one point made
// 2× slower is the only one reported, and its fit is the others' trend.
func TestFindCliffs(t *testing.T) {
	mk := func(bump map[int]float64) []Result {
		var rs []Result
		for _, k := range sweepKs {
			n := min(max(1<<20/k, 1), 4096)
			ns := 150 + 3*float64(n) + 0.4*float64(n)*float64(k)
			if f, ok := bump[k]; ok {
				ns *= f
			}
			rs = append(rs, Result{Kernel: "CrossEntropy", Op: "fwdbwd", DType: "f32", Isa: "avx512", N: n, K: k,
				NsPerCall: ns, NsPerElem: ns / float64(n*k)})
		}
		return rs
	}
	axis := func(Result) string { return "K" }
	if c := findCliffs(mk(nil), axis); len(c) != 0 {
		t.Errorf("smooth series: cliffs %+v, want none", c)
	}
	c := findCliffs(mk(map[int]float64{4097: 2}), axis)
	if len(c) != 1 || c[0].K != 4097 || c[0].Ratio < 1.9 || c[0].Ratio > 2.1 {
		t.Fatalf("one point 2× slow: cliffs %+v, want K = 4097 at 2×", c)
	}
	// Below the factor: 1.4× is not a cliff.
	if c := findCliffs(mk(map[int]float64{4097: 1.4}), axis); len(c) != 0 {
		t.Errorf("1.4× point: cliffs %+v, want none", c)
	}
	var b strings.Builder
	if err := writeCliffs(&b, c); err != nil || !strings.Contains(b.String(), "4097") {
		t.Errorf("writeCliffs: %v\n%s", err, b.String())
	}
}

func TestSweepFlags(t *testing.T) {
	var out strings.Builder
	if _, err := parseFlags([]string{"-sweep", "-shapes", "8x8"}, &out); err == nil {
		t.Error("-sweep with -shapes: no error")
	}
	cfg, err := parseFlags([]string{"-sweep"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.sweep || cfg.plot != "lossbench-sweep.svg" || len(cfg.kernels) != 7 || cfg.reps != 3 {
		t.Errorf("-sweep defaults: %+v", cfg)
	}
	shapes := sweepShapeList(cfg.kernels[0])
	var ks, ns []int
	for _, s := range shapes {
		ks, ns = append(ks, s.K), append(ns, s.N)
	}
	if ks[0] != 2 || !slices.Contains(ks, 262144) || !slices.Contains(ns, 1) || !slices.Contains(ns, 4096) {
		t.Errorf("CE sweep shapes %v", shapes)
	}
}
