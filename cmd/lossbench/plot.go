package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writePlot draws throughput (Gelem/s) against K, one line per backend and
// the bandwidth limit as a dashed line, one panel per kernel × op × dtype
// measured at more than one K (or every panel when none was).
func writePlot(path string, rep *Report) error {
	type group struct {
		title string
		rs    []Result
	}
	var groups []group
	for _, r := range rep.Results {
		t := fmt.Sprintf("%s op=%s dtype=%s", r.Kernel, r.Op, r.DType)
		if len(groups) == 0 || groups[len(groups)-1].title != t {
			groups = append(groups, group{title: t})
		}
		g := &groups[len(groups)-1]
		g.rs = append(g.rs, r)
	}
	multiK := slices.DeleteFunc(slices.Clone(groups), func(g group) bool {
		ks := map[int]bool{}
		for _, r := range g.rs {
			ks[r.K] = true
		}
		return len(ks) < 2
	})
	if len(multiK) > 0 {
		groups = multiK
	}
	if len(groups) == 0 {
		return fmt.Errorf("-plot: no results to plot")
	}

	var panels [][]*plot.Plot
	for _, g := range groups {
		p, err := panel(g.title+" — "+rep.Machine.CPU, g.rs)
		if err != nil {
			return err
		}
		panels = append(panels, []*plot.Plot{p})
	}
	width, height := 7*vg.Inch, 3.6*vg.Inch*vg.Length(len(panels))
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	} else {
		canvas = vgsvg.New(width, height)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(4), PadBottom: vg.Points(4)}
	for i, row := range plot.Align(panels, tiles, dc) {
		panels[i][0].Draw(row[0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func panel(title string, rs []Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "K (classes per row)"
	p.Y.Label.Text = "Gelem/s (higher is better)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())

	var isas []string
	for _, r := range rs {
		if !slices.Contains(isas, r.Isa) {
			isas = append(isas, r.Isa)
		}
	}
	for i, isa := range isas {
		var pts plotter.XYs
		for _, r := range rs {
			if r.Isa == isa && r.GelemPerSec > 0 {
				pts = append(pts, plotter.XY{X: float64(r.K), Y: r.GelemPerSec})
			}
		}
		sortXY(pts)
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(isa, line, points)
	}
	// PyTorch (-torch) has one time per shape, stored on every backend's row.
	var torch plotter.XYs
	seenTorch := map[int]bool{}
	for _, r := range rs {
		if r.TorchNsPerElem != nil && !seenTorch[r.K] {
			seenTorch[r.K] = true
			torch = append(torch, plotter.XY{X: float64(r.K), Y: 1 / *r.TorchNsPerElem})
		}
	}
	if len(torch) > 0 {
		sortXY(torch)
		line, points, err := plotter.NewLinePoints(torch)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = plotutil.Color(len(isas)), plotutil.Color(len(isas))
		points.Shape = plotutil.Shape(len(isas))
		line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(line, points)
		p.Legend.Add("PyTorch, 1 thread", line, points)
	}
	// The bandwidth limit is the same for every backend at a shape.
	var lim plotter.XYs
	seen := map[int]bool{}
	for _, r := range rs {
		if r.LimitGelemPerSec != nil && !seen[r.K] {
			seen[r.K] = true
			lim = append(lim, plotter.XY{X: float64(r.K), Y: *r.LimitGelemPerSec})
		}
	}
	if len(lim) > 0 {
		sortXY(lim)
		l, err := plotter.NewLine(lim)
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("bandwidth limit", l)
	}
	// Headroom above the highest line for the legend (the axis is log).
	p.Y.Max *= 8
	return p, nil
}

func sortXY(pts plotter.XYs) {
	slices.SortFunc(pts, func(a, b plotter.XY) int {
		switch {
		case a.X < b.X:
			return -1
		case a.X > b.X:
			return 1
		}
		return 0
	})
}
