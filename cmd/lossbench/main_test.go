package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"-kernels", "Nope"}, `unknown kernel "Nope"`},
		{[]string{"-shapes", "12"}, "want NxK"},
		{[]string{"-shapes", "0x4"}, "must be positive"},
		{[]string{"-backends", "avx1024"}, `"avx1024" is not a backend this CPU runs`},
		{[]string{"-dtype", "f16"}, `"f16" is not f32 or f64`},
		{[]string{"-op", "back"}, `"back" is not fwd, fwdbwd or bwd`},
		{[]string{"-duration", "-1s"}, "must be positive"},
		{[]string{"-reps", "0"}, "between 1 and 1000"},
		{[]string{"-plot", "out.pdf"}, "must end in .svg"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-json", "-markdown"}, "choose one output format"},
		{[]string{"-clock", "sundial"}, `want cpu or wall`},
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
		{[]string{"-duration", "soon"}, "invalid value"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v: exit code %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q does not say %q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: wrote %q to stdout", tc.args, stdout.String())
		}
	}
}

// tiny is a run that takes well under a second.
var tiny = []string{"-kernels", "CrossEntropy,Sigmoid", "-shapes", "16x10,8x100", "-duration", "2ms", "-reps", "3", "-bandwidth=false"}

func TestJSONAndPlot(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "ce.svg")
	var stdout, stderr bytes.Buffer
	if code := run(append(tiny, "-json", "-plot", svg, "-dtype", "f32,f64"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	var rep struct {
		Machine struct {
			CPU      string   `json:"cpu"`
			Backend  string   `json:"backend"`
			Backends []string `json:"backends"`
		} `json:"machine"`
		Results []struct {
			Kernel, Op, DType, Isa string
			N, K                   int
			NsPerElem              float64  `json:"ns_per_elem"`
			MinNsPerElem           float64  `json:"min_ns_per_elem"`
			Allocs                 float64  `json:"allocs_per_call"`
			Paths                  []string `json:"paths"`
			Fallback               bool     `json:"fallback_to_generic"`
			VsNaive                *float64 `json:"speedup_vs_naive"`
			MaxErr                 any      `json:"max_err"`
			Budget                 any      `json:"contract_budget"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	isas := len(rep.Machine.Backends) + 1 // and naive
	// CrossEntropy: 2 shapes × 2 dtypes × fwdbwd; Sigmoid: 2 × 2 × fwd.
	if want := 8 * isas; len(rep.Results) != want {
		t.Fatalf("%d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		if r.NsPerElem <= 0 || r.VsNaive == nil {
			t.Errorf("result %+v: missing timing or speed-up", r)
		}
		if !(r.MinNsPerElem > 0 && r.MinNsPerElem <= r.NsPerElem) {
			t.Errorf("result %+v: the fastest repetition is not at most the median", r)
		}
		if r.Isa != "naive" && (r.Allocs != 0 || len(r.Paths) == 0 || r.Fallback) {
			t.Errorf("result %+v: want no allocation, the paths taken and no fallback", r)
		}
		e, ok := r.MaxErr.(float64)
		if !ok || !(e < 1e-5) {
			t.Errorf("%s %s %s isa=%s %dx%d: max_err %v", r.Kernel, r.Op, r.DType, r.Isa, r.N, r.K, r.MaxErr)
		}
		if _, ok := r.Budget.(float64); !ok {
			t.Errorf("%s %s %s isa=%s: contract_budget %v is not a number", r.Kernel, r.Op, r.DType, r.Isa, r.Budget)
		}
		if r.Kernel == "Sigmoid" && r.Op != "fwd" {
			t.Errorf("Sigmoid ran op=%s, want fwd", r.Op)
		}
	}
	if !strings.Contains(stderr.String(), "[  1/") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("<?xml")) || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("%s is not an SVG plot:\n%.300s", svg, b)
	}
	// Every kernel × op × dtype has its panel, every shape its label, and
	// the CPU is named once in the header.
	for _, r := range rep.Results {
		for _, want := range []string{fmt.Sprintf("%s  %s  %s", r.Kernel, r.Op, r.DType), fmt.Sprintf("%dx%d", r.N, r.K)} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s has no %q", svg, want)
			}
		}
	}
	if !bytes.Contains(b, []byte(rep.Machine.CPU)) {
		t.Errorf("%s does not name the CPU %q", svg, rep.Machine.CPU)
	}
}

func TestMarkdown(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(append(tiny, "-markdown"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"| kernel | op | dtype | N×K | naive | generic |", "| CrossEntropy | fwdbwd | f32 | 16×10 |", "| Sigmoid | fwd | f32 | 8×100 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestTextReport(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := append(tiny[:len(tiny)-1:len(tiny)-1], "-kernels", "MSE", "-shapes", "32x32")
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"CPU", "Dispatch", "Bandwidth", "MSE  op=fwdbwd dtype=f32", "ns/elem", "×naive", "%BW", "budget", "naive", "generic"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 8M-element inputs")
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-scaling", "-duration", "4ms", "-reps", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"lossbench -scaling:", "P=0 ns/el", "P=1 ns/el", "256x32000", "BCEWithLogits", "MSE", "Losses bit-identical for every P ≥ 1."} {
		if !strings.Contains(out, want) {
			t.Errorf("scaling report lacks %q:\n%s", want, out)
		}
	}
}

// sink keeps TestAllocsPerCall's allocations on the heap.
var sink []byte

// TestAllocsPerCall: a call that allocates counts in every round, one that
// does not counts 0.
func TestAllocsPerCall(t *testing.T) {
	if got := allocsPerCall(func() { sink = make([]byte, 64) }); got != 1 {
		t.Errorf("one allocation per call counted as %v", got)
	}
	if got := allocsPerCall(func() { sink = sink[:0] }); got != 0 {
		t.Errorf("no allocation counted as %v", got)
	}
}
