package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/lossfuse/lossfuse/bench/suite"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeText(w io.Writer, rep *Report) error {
	m := rep.Machine
	var b strings.Builder
	fmt.Fprintf(&b, "lossbench: lossfuse kernels on one core\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	cpu := m.CPU
	if m.Cores > 0 {
		cpu += fmt.Sprintf(", %d logical cores", m.Cores)
	}
	var caches []string
	for _, c := range []struct {
		name string
		n    int
	}{{"L1d", m.L1D}, {"L2", m.L2}, {"L3", m.L3}} {
		if c.n > 0 {
			caches = append(caches, c.name+" "+sizeString(c.n))
		}
	}
	if len(caches) > 0 {
		cpu += "; " + strings.Join(caches, ", ")
	}
	fmt.Fprintf(tw, "CPU\t%s\n", cpu)
	feat := strings.Join(m.Features, " ")
	if feat == "" {
		feat = "none that lossfuse uses"
	}
	fmt.Fprintf(tw, "Features\t%s\n", feat)
	fmt.Fprintf(tw, "Go\t%s %s/%s\n", m.Go, m.GOOS, m.GOARCH)
	maxISA := "unset"
	if m.MaxISA != "" {
		maxISA = "=" + m.MaxISA
	}
	fmt.Fprintf(tw, "Dispatch\t%s selected (LOSSFUSE_MAX_ISA %s); this CPU runs %s; compiled in: %s\n",
		m.Selected, maxISA, strings.Join(m.Available, ", "), strings.Join(m.Compiled, ", "))
	if rep.HasBW {
		fmt.Fprintf(tw, "Bandwidth\t%s; %s (one core: bytes.Equal reads, copy reads+writes)\n", rep.L2BW, rep.LargeBW)
	}
	fmt.Fprintf(tw, "Accuracy\tvs %s on the same inputs:\n", rep.Reference)
	fmt.Fprintf(tw, "\tmax err = max(|loss−ref|/|ref|, max|out−ref|/max|ref|), out = gradient or primitive output;\n")
	fmt.Fprintf(tw, "\tbudget = largest fraction of the accuracy contract's tolerance used (≤ 1 passes; * marks a violation)\n")
	fmt.Fprintf(tw, "Timing\t%s, median of up to %d repetitions, %s per measurement, one locked thread\n", rep.Clock, rep.Reps, rep.Duration)
	if t := rep.PyTorch; t != nil {
		fmt.Fprintf(tw, "PyTorch\t%s; ×PyTorch = its time ÷ this time\n", t.describe())
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// One table per kernel, op and dtype, in measurement order.
	for start := 0; start < len(rep.Results); {
		r0 := rep.Results[start]
		end := start
		for end < len(rep.Results) {
			r := rep.Results[end]
			if r.Kernel != r0.Kernel || r.Op != r0.Op || r.DType != r0.DType {
				break
			}
			end++
		}
		fmt.Fprintf(&b, "\n%s  op=%s dtype=%s\n", r0.Kernel, r0.Op, r0.DType)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		torchCol, blank := "", "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n"
		if rep.PyTorch != nil {
			torchCol, blank = "×PyTorch\t", "\t"+blank
		}
		fmt.Fprintf(tw, "shape\tisa\tns/elem\tmin\tIQR\tGelem/s\tGB/s\t×generic\t×naive\t%s%%BW\tmax err\tbudget\tallocs\tpath\t\n", torchCol)
		prevShape := ""
		for _, r := range rep.Results[start:end] {
			shape := r.shape().String()
			if prevShape != "" && shape != prevShape {
				io.WriteString(tw, blank)
			}
			prevShape = shape
			if rep.PyTorch != nil {
				torchCol = ratio(r.VsTorch) + "\t"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s%s\t%s\t%s\t%s\t%s\t\n",
				shape, r.Isa, num(r.NsPerElem), num(r.MinNsPerElem), iqrString(r), num(r.GelemPerSec), r.GBPerSec,
				ratio(r.VsGeneric), ratio(r.VsNaive), torchCol, percent(r.BWFraction), errString(float64(r.MaxErr)), budgetString(r),
				num(r.AllocsPerCall), pathString(r))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		start = end
	}
	writeSummary(&b, rep)
	// Drop the padding tabwriter leaves on the blank separator rows.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// num prints three significant digits without exponents for ordinary values.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	case v >= 0.001:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func ratio(v *float64) string {
	if v == nil {
		return "-"
	}
	return num(*v) + "×"
}

func percent(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100**v)
}

func budgetString(r Result) string {
	b := float64(r.Budget)
	mark := ""
	if !(b <= 1) {
		mark = "*"
	}
	if math.IsInf(b, 1) {
		return "Inf" + mark
	}
	return fmt.Sprintf("%.2g%s", b, mark)
}

func errString(e float64) string {
	switch {
	case math.IsInf(e, 1):
		return "Inf"
	case e == 0:
		return "0"
	}
	return fmt.Sprintf("%.1e", e)
}

// iqrString is the interquartile range in percent of the median, with ~
// marking a noisy measurement.
func iqrString(r Result) string {
	mark := ""
	if r.Noisy {
		mark = "~"
	}
	return fmt.Sprintf("%.1f%%%s", 100*r.IQR, mark)
}

// pathString is the code path a call took, "-" for the naive loop, and
// "FALLBACK" in front of a SIMD backend's generic (scalar) path.
func pathString(r Result) string {
	if len(r.Paths) == 0 {
		return "-"
	}
	p := strings.Join(r.Paths, "+")
	if r.Fallback {
		p = "FALLBACK " + p
	}
	return p
}

// writeSummary ends the tables with what a reader must not miss: noisy
// cells, allocating calls and fallbacks to generic, or that there were none.
func writeSummary(b *strings.Builder, rep *Report) {
	var noisy, allocs, fallbacks []string
	for _, r := range rep.Results {
		cell := fmt.Sprintf("%s %s %s %s %s", r.Kernel, r.Op, r.DType, r.shape(), r.Isa)
		if r.Noisy {
			noisy = append(noisy, fmt.Sprintf("%s (IQR %.0f%%)", cell, 100*r.IQR))
		}
		if r.AllocsPerCall > 0 && r.Isa != suite.Naive {
			allocs = append(allocs, fmt.Sprintf("%s (%.3g per call)", cell, r.AllocsPerCall))
		}
		if r.Fallback {
			fallbacks = append(fallbacks, fmt.Sprintf("%s: %s", cell, strings.Join(r.Paths, "+")))
		}
	}
	list := func(title, none string, items []string) {
		if len(items) == 0 {
			fmt.Fprintf(b, "%s: %s\n", title, none)
			return
		}
		fmt.Fprintf(b, "%s (%d):\n", title, len(items))
		for _, it := range items {
			fmt.Fprintf(b, "  %s\n", it)
		}
	}
	b.WriteString("\n")
	list("Noisy cells (interquartile range above 5% of the median; rerun them or raise -reps)", "none", noisy)
	list("lossfuse calls that allocated", "none (every lossfuse call allocation-free)", allocs)
	list("Fallbacks to generic on a SIMD backend", "none (every call above ran its backend's own kernels)", fallbacks)
}
