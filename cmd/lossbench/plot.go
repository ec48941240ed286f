package main

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lossfuse/lossfuse/bench/suite"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writePlot draws every kernel × op × dtype measured as one panel: the
// shapes (labelled N×K) along x, throughput (Gelem/s, log scale) up, one
// point per backend in that backend's own colour and marker (the same in
// every plot, whichever backends ran), the naive baseline among them, and
// the memory-bandwidth limit of each shape as a dashed bar. Two panels a
// row; the CPU is named in the figure's header line, never clipped off a
// panel's title.
func writePlot(path string, rep *Report) error {
	type group struct {
		title string
		rs    []Result
	}
	var groups []group
	for _, r := range rep.Results {
		t := fmt.Sprintf("%s  %s  %s", r.Kernel, r.Op, r.DType)
		if len(groups) == 0 || groups[len(groups)-1].title != t {
			groups = append(groups, group{title: t})
		}
		g := &groups[len(groups)-1]
		g.rs = append(g.rs, r)
	}
	if len(groups) == 0 {
		return fmt.Errorf("-plot: no results to plot")
	}
	cols := min(2, len(groups))
	rows := (len(groups) + cols - 1) / cols
	panels := make([][]*plot.Plot, rows)
	for i := range panels {
		panels[i] = make([]*plot.Plot, cols)
	}
	for i, g := range groups {
		p, err := panel(g.title, g.rs)
		if err != nil {
			return err
		}
		panels[i/cols][i%cols] = p
	}
	header := 0.45 * vg.Inch
	width, height := 6*vg.Inch*vg.Length(cols), 3.4*vg.Inch*vg.Length(rows)+header
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
	// The header: what ran where, on its own line across the figure.
	hs := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler}
	hs.Font.Size = vg.Points(11)
	hs.XAlign, hs.YAlign = draw.XCenter, draw.YTop
	m := rep.Machine
	dc.FillText(hs, vg.Point{X: width / 2, Y: height - vg.Points(6)},
		fmt.Sprintf("lossfuse, one core: %s (%s, %s/%s); %s, median of %d", m.CPU, m.Go, m.GOOS, m.GOARCH, rep.Clock, rep.Reps))
	body := draw.Crop(dc, 0, 0, 0, -header)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(10), PadY: vg.Points(10), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	for i, row := range plot.Align(panels, tiles, body) {
		for j, c := range row {
			if panels[i][j] != nil {
				panels[i][j].Draw(c)
			}
		}
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

// backendStyle is each backend's colour and marker, fixed so that a
// backend looks the same in every plot.
var backendStyle = map[string]struct {
	c     color.RGBA
	shape draw.GlyphDrawer
}{
	suite.Naive: {color.RGBA{120, 120, 120, 255}, draw.CrossGlyph{}},
	"generic":   {color.RGBA{31, 119, 180, 255}, draw.BoxGlyph{}},
	"avx2":      {color.RGBA{44, 160, 44, 255}, draw.TriangleGlyph{}},
	"avx512":    {color.RGBA{214, 39, 40, 255}, draw.CircleGlyph{}},
	"neon":      {color.RGBA{255, 127, 14, 255}, draw.CircleGlyph{}},
	"PyTorch":   {color.RGBA{148, 103, 189, 255}, draw.PyramidGlyph{}},
}

var backendOrder = []string{suite.Naive, "generic", "avx2", "avx512", "neon"}

func panel(title string, rs []Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Y.Label.Text = "Gelem/s (higher is better)"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())

	var shapes []string
	for _, r := range rs {
		if s := r.shape().String(); !slices.Contains(shapes, s) {
			shapes = append(shapes, s)
		}
	}
	p.NominalX(shapes...)
	p.X.Label.Text = "N×K"
	at := func(r Result) float64 { return float64(slices.Index(shapes, r.shape().String())) }

	var isas []string
	for _, b := range backendOrder {
		if slices.ContainsFunc(rs, func(r Result) bool { return r.Isa == b }) {
			isas = append(isas, b)
		}
	}
	spread := 0.5 / float64(max(1, len(isas)))
	for i, isa := range isas {
		var pts plotter.XYs
		for _, r := range rs {
			if r.Isa == isa && r.GelemPerSec > 0 {
				pts = append(pts, plotter.XY{X: at(r) + (float64(i)-float64(len(isas)-1)/2)*spread, Y: r.GelemPerSec})
			}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		st := backendStyle[isa]
		sc.GlyphStyle = draw.GlyphStyle{Color: st.c, Shape: st.shape, Radius: vg.Points(3.5)}
		p.Add(sc)
		name := isa
		if isa == suite.Naive {
			name = "naive Go loop"
		}
		p.Legend.Add(name, sc)
	}
	// PyTorch (-torch) has one time per shape, stored on every backend's row.
	var torch plotter.XYs
	seenTorch := map[string]bool{}
	for _, r := range rs {
		if r.TorchNsPerElem != nil && !seenTorch[r.shape().String()] {
			seenTorch[r.shape().String()] = true
			torch = append(torch, plotter.XY{X: at(r), Y: 1 / *r.TorchNsPerElem})
		}
	}
	if len(torch) > 0 {
		sc, err := plotter.NewScatter(torch)
		if err != nil {
			return nil, err
		}
		st := backendStyle["PyTorch"]
		sc.GlyphStyle = draw.GlyphStyle{Color: st.c, Shape: st.shape, Radius: vg.Points(3.5)}
		p.Add(sc)
		p.Legend.Add("PyTorch, 1 thread", sc)
	}
	// The bandwidth limit, the same for every backend at a shape: a dashed
	// bar across the shape's points.
	seen := map[string]bool{}
	var legend *plotter.Line
	for _, r := range rs {
		if r.LimitGelemPerSec == nil || seen[r.shape().String()] {
			continue
		}
		seen[r.shape().String()] = true
		x, y := at(r), *r.LimitGelemPerSec
		l, err := plotter.NewLine(plotter.XYs{{X: x - 0.4, Y: y}, {X: x + 0.4, Y: y}})
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Width = vg.Points(1.5)
		p.Add(l)
		legend = l
	}
	if legend != nil {
		p.Legend.Add("memory-bandwidth limit", legend)
	}
	// Headroom above the highest point for the legend (the axis is log).
	p.Y.Max *= 30
	p.X.Min, p.X.Max = -0.6, float64(len(shapes))-0.4
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
