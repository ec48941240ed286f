package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// writeMarkdown prints the report as the README shows it: the machine in a
// few lines, then one row per kernel × op × dtype × shape with ns/elem for
// every backend, the dispatched backend's speed-ups, share of the bandwidth
// limit and the worst contract budget over the backends.
func writeMarkdown(w io.Writer, rep *Report) error {
	m := rep.Machine
	var b strings.Builder
	fmt.Fprintf(&b, "- CPU: %s (%d logical cores", m.CPU, m.Cores)
	if m.L2 > 0 {
		fmt.Fprintf(&b, ", L2 %s", sizeString(m.L2))
	}
	if m.L3 > 0 {
		fmt.Fprintf(&b, ", L3 %s", sizeString(m.L3))
	}
	fmt.Fprintf(&b, "); features %s\n", strings.Join(m.Features, " "))
	fmt.Fprintf(&b, "- %s %s/%s; dispatch selected `%s`; this CPU runs %s\n", m.Go, m.GOOS, m.GOARCH, m.Selected, strings.Join(m.Available, ", "))
	if rep.HasBW {
		fmt.Fprintf(&b, "- single-core bandwidth: %s; %s\n", rep.L2BW, rep.LargeBW)
	}
	fmt.Fprintf(&b, "- %s, median of up to %d repetitions, %s per measurement; ns per element, lower is better\n", rep.Clock, rep.Reps, rep.Duration)
	if t := rep.PyTorch; t != nil {
		fmt.Fprintf(&b, "- PyTorch: %s\n", t.describe())
	}
	b.WriteString("\n")

	var isas []string
	for _, r := range rep.Results {
		if !slices.Contains(isas, r.Isa) {
			isas = append(isas, r.Isa)
		}
	}
	best := m.Selected
	if !slices.Contains(isas, best) {
		best = isas[len(isas)-1]
	}
	torch := rep.PyTorch != nil
	fmt.Fprintf(&b, "| kernel | op | dtype | N×K |")
	for _, isa := range isas {
		fmt.Fprintf(&b, " %s |", isa)
	}
	if torch {
		b.WriteString(" PyTorch |")
	}
	fmt.Fprintf(&b, " %s vs generic | %s vs naive |", best, best)
	if torch {
		fmt.Fprintf(&b, " %s vs PyTorch |", best)
	}
	fmt.Fprintf(&b, " %s %% of BW limit | worst budget |\n|---|---|---|---|", best)
	for range isas {
		b.WriteString("--:|")
	}
	if torch {
		b.WriteString("--:|--:|")
	}
	b.WriteString("--:|--:|--:|--:|\n")

	type key struct {
		kernel, op, dtype string
		n, k              int
	}
	var order []key
	rows := map[key][]Result{}
	for _, r := range rep.Results {
		k := key{r.Kernel, r.Op, r.DType, r.N, r.K}
		if _, ok := rows[k]; !ok {
			order = append(order, k)
		}
		rows[k] = append(rows[k], r)
	}
	for _, k := range order {
		fmt.Fprintf(&b, "| %s | %s | %s | %d×%d |", k.kernel, k.op, k.dtype, k.n, k.k)
		var sel *Result
		worst := 0.0
		for _, isa := range isas {
			cell := "–"
			for i, r := range rows[k] {
				if r.Isa == isa {
					cell = num(r.NsPerElem)
					if isa == best {
						sel = &rows[k][i]
					}
					worst = math.Max(worst, float64(r.Budget))
				}
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		if torch {
			cell := "–"
			for _, r := range rows[k] {
				if r.TorchNsPerElem != nil {
					cell = num(*r.TorchNsPerElem)
				}
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		if sel != nil {
			fmt.Fprintf(&b, " %s | %s |", ratio(sel.VsGeneric), ratio(sel.VsNaive))
			if torch {
				fmt.Fprintf(&b, " %s |", ratio(sel.VsTorch))
			}
			fmt.Fprintf(&b, " %s |", percent(sel.BWFraction))
		} else if torch {
			b.WriteString(" – | – | – | – |")
		} else {
			b.WriteString(" – | – | – |")
		}
		fmt.Fprintf(&b, " %s |\n", budgetString(Result{Budget: jsonFloat(worst)}))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
