package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeTorch writes a torchbench-shaped JSON file with PyTorch's time for
// CrossEntropy fwdbwd f32 at 16x10 only.
func writeTorch(t *testing.T, nsPerCall float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "torch.json")
	doc := map[string]any{
		"machine": map[string]any{"cpu": "Test CPU", "torch": "1.13.0", "threads": 1, "clock": "process CPU time"},
		"results": []map[string]any{{
			"kernel": "CrossEntropy", "op": "fwdbwd", "dtype": "f32", "n": 16, "k": 10, "isa": "pytorch",
			"ns_per_call": nsPerCall, "ns_per_elem": nsPerCall / 160,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTorchColumn(t *testing.T) {
	const torchNs = 123456.0
	path := writeTorch(t, torchNs)
	var stdout, stderr bytes.Buffer
	svg := filepath.Join(t.TempDir(), "ce.svg")
	if code := run(append(tiny, "-json", "-torch", path, "-plot", svg), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	var rep struct {
		PyTorch *struct{ File string } `json:"pytorch"`
		Results []struct {
			Kernel, Op, DType, Isa string
			N, K                   int
			NsPerCall              float64  `json:"ns_per_call"`
			TorchNs                *float64 `json:"pytorch_ns_per_elem"`
			VsTorch                *float64 `json:"speedup_vs_pytorch"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if rep.PyTorch == nil || rep.PyTorch.File != path {
		t.Errorf("report's pytorch entry %+v, want file %s", rep.PyTorch, path)
	}
	matched := 0
	for _, r := range rep.Results {
		want := r.Kernel == "CrossEntropy" && r.Op == "fwdbwd" && r.DType == "f32" && r.N == 16 && r.K == 10
		if !want {
			if r.VsTorch != nil || r.TorchNs != nil {
				t.Errorf("%s %s %dx%d isa=%s has a PyTorch time it was not given", r.Kernel, r.Op, r.N, r.K, r.Isa)
			}
			continue
		}
		matched++
		if r.TorchNs == nil || r.VsTorch == nil {
			t.Errorf("%s %dx%d isa=%s: no PyTorch columns", r.Kernel, r.N, r.K, r.Isa)
			continue
		}
		if *r.TorchNs != torchNs/160 {
			t.Errorf("isa=%s: pytorch_ns_per_elem %v, want %v", r.Isa, *r.TorchNs, torchNs/160)
		}
		if s := torchNs / r.NsPerCall; !(math.Abs(*r.VsTorch-s) <= 1e-9*s) {
			t.Errorf("isa=%s: speedup_vs_pytorch %v, want %v", r.Isa, *r.VsTorch, s)
		}
	}
	if matched == 0 {
		t.Fatal("no CrossEntropy fwdbwd f32 16x10 result")
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("PyTorch, 1 thread")) {
		t.Errorf("plot %s has no PyTorch line (err %v)", svg, err)
	}
	for _, want := range []string{"PyTorch times for " + strconv.Itoa(matched) + " of", `measured on CPU "Test CPU"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestTorchMarkdownAndText(t *testing.T) {
	path := writeTorch(t, 1e6)
	var stdout, stderr bytes.Buffer
	if code := run(append(tiny, "-markdown", "-torch", path), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	md := stdout.String()
	// 1e6 ns per 160 elements.
	for _, want := range []string{"| PyTorch |", " vs PyTorch |", "- PyTorch: torch 1.13.0", "| CrossEntropy | fwdbwd | f32 | 16×10 |", " 6250 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every row has as many cells as the header.
	lines := strings.Split(strings.TrimSpace(md), "\n")
	var cells int
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		c := strings.Count(l, "|")
		if cells == 0 {
			cells = c
		} else if c != cells {
			t.Errorf("row %q has %d separators, header %d", l, c, cells)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(append(tiny, "-torch", path), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "×PyTorch") {
		t.Errorf("text report lacks the ×PyTorch column:\n%s", stdout.String())
	}
}

func TestTorchBadFile(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.json")
	empty := filepath.Join(dir, "empty.json")
	noTime := filepath.Join(dir, "notime.json")
	os.WriteFile(notJSON, []byte("BenchmarkX 1 2 ns/op\n"), 0o644)
	os.WriteFile(empty, []byte(`{"results": []}`), 0o644)
	os.WriteFile(noTime, []byte(`{"results": [{"kernel": "MSE", "op": "fwd", "dtype": "f32", "n": 1, "k": 1}]}`), 0o644)
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.json"), "no such file"},
		{notJSON, "not torchbench JSON"},
		{empty, "no results"},
		{noTime, "positive ns_per_call"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append(tiny, "-torch", tc.file), &stdout, &stderr); code != 2 {
			t.Errorf("-torch %s: exit code %d, want 2", tc.file, code)
		}
		if !strings.Contains(stderr.String(), tc.want) || strings.Contains(stderr.String(), "[  1/") {
			t.Errorf("-torch %s: stderr %q should say %q before measuring anything", tc.file, stderr.String(), tc.want)
		}
	}
}
