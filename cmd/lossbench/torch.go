package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// PyTorch is a tools/torchbench run (its -json output) that -torch adds to
// the report: PyTorch on one thread, same kernels and shapes.
type PyTorch struct {
	File    string         `json:"file"`
	Machine map[string]any `json:"machine"` // as torchbench wrote it (CPU, torch version, threads, clock)
	Results []torchResult  `json:"results"`
}

type torchResult struct {
	Kernel    string  `json:"kernel"`
	Op        string  `json:"op"`
	DType     string  `json:"dtype"`
	N         int     `json:"n"`
	K         int     `json:"k"`
	NsPerCall float64 `json:"ns_per_call"`
	NsPerElem float64 `json:"ns_per_elem"`
	Call      string  `json:"pytorch_call,omitempty"`
}

// loadTorch reads a torchbench JSON file; it fails on anything that is not
// one, so that a wrong path is reported before a minute of measuring.
func loadTorch(path string) (*PyTorch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-torch: %v", err)
	}
	t := &PyTorch{}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("-torch %s: not torchbench JSON: %v", path, err)
	}
	if len(t.Results) == 0 {
		return nil, fmt.Errorf("-torch %s: no results (write it with tools/torchbench/torchbench.py --json)", path)
	}
	for _, r := range t.Results {
		if r.Kernel == "" || r.N <= 0 || r.K <= 0 || !(r.NsPerCall > 0) {
			return nil, fmt.Errorf("-torch %s: result %+v lacks kernel, shape or a positive ns_per_call", path, r)
		}
	}
	t.File = path
	return t, nil
}

// cpu is the CPU the PyTorch numbers were measured on, as torchbench named it.
func (t *PyTorch) cpu() string {
	s, _ := t.Machine["cpu"].(string)
	return s
}

// setTorch fills each result's PyTorch time and speed-up over it where
// torchbench measured the same kernel, op, dtype and shape, and returns how
// many results matched.
func setTorch(rs []Result, t *PyTorch) int {
	type key struct {
		kernel, op, dtype string
		n, k              int
	}
	at := map[key]float64{}
	for _, r := range t.Results {
		at[key{r.Kernel, r.Op, r.DType, r.N, r.K}] = r.NsPerCall
	}
	matched := 0
	for i := range rs {
		r := &rs[i]
		if ns, ok := at[key{r.Kernel, r.Op, r.DType, r.N, r.K}]; ok {
			perElem, s := ns/float64(r.N*r.K), ns/r.NsPerCall
			r.TorchNsPerElem, r.VsTorch = &perElem, &s
			matched++
		}
	}
	return matched
}

// describe names the PyTorch run for the report's header.
func (t *PyTorch) describe() string {
	s := func(k string) string { v, _ := t.Machine[k].(string); return v }
	threads := "?"
	if v, ok := t.Machine["threads"].(float64); ok {
		threads = fmt.Sprint(v)
	}
	return fmt.Sprintf("torch %s (%s kernels), %s thread(s), %s, from %s on %s", s("torch"), s("torch_cpu_capability"), threads, s("clock"), t.File, s("cpu"))
}
