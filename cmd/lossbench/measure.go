package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"

	"github.com/lossfuse/lossfuse/bench/suite"
	"github.com/lossfuse/lossfuse/kernels"
)

// Report is everything lossbench measured.
type Report struct {
	Machine   Machine   `json:"machine"`
	Reference string    `json:"reference"`
	ErrorNorm string    `json:"error_measure"`
	Clock     string    `json:"clock"`
	Reps      int       `json:"reps"`
	Duration  string    `json:"duration_per_measurement"`
	L2BW      Bandwidth `json:"bandwidth_l2"`    // a buffer that fits in L2
	LargeBW   Bandwidth `json:"bandwidth_large"` // one that fits in no cache
	HasBW     bool      `json:"-"`
	Results   []Result  `json:"results"`
	PyTorch   *PyTorch  `json:"pytorch,omitempty"` // -torch
	Cliffs    []Cliff   `json:"cliffs,omitempty"`  // -sweep
}

// Result is one kernel × op × dtype × shape × backend measurement.
type Result struct {
	Kernel    string  `json:"kernel"`
	Op        string  `json:"op"`
	DType     string  `json:"dtype"`
	N         int     `json:"n"`
	K         int     `json:"k"`
	Isa       string  `json:"isa"`
	NsPerCall float64 `json:"ns_per_call"` // the median
	NsPerElem float64 `json:"ns_per_elem"`
	// The spread over repetitions: the fastest one, and the interquartile
	// range relative to the median; Noisy marks a spread above noisyIQR.
	MinNsPerElem float64 `json:"min_ns_per_elem"`
	IQR          float64 `json:"iqr_relative"`
	Noisy        bool    `json:"noisy,omitempty"`
	// AllocsPerCall is the heap allocations of one call (lossfuse makes
	// none; a naive loop may).
	AllocsPerCall float64 `json:"allocs_per_call"`
	// Paths are the code paths the call took (kernels.PathsTaken);
	// Fallback is set when a SIMD backend ran a generic (scalar) kernel.
	Paths        []string `json:"paths,omitempty"`
	Fallback     bool     `json:"fallback_to_generic,omitempty"`
	GelemPerSec  float64  `json:"gelem_per_s"`
	GBPerSec     float64  `json:"gb_per_s"` // bytes touched (read + written once) per second
	BytesRead    int64    `json:"bytes_read"`
	BytesWritten int64    `json:"bytes_written"`
	// Speed-ups are time(baseline)/time(this); absent when the baseline
	// was not measured.
	VsGeneric *float64 `json:"speedup_vs_generic,omitempty"`
	VsNaive   *float64 `json:"speedup_vs_naive,omitempty"`
	// BWFraction is the bandwidth floor's time over the measured time; the
	// floor moves the bytes touched at the read and copy bandwidth measured
	// on a buffer of the same footprint. LimitGelemPerSec is that floor's
	// throughput.
	BWFraction       *float64   `json:"bandwidth_fraction,omitempty"`
	LimitGelemPerSec *float64   `json:"bandwidth_limit_gelem_per_s,omitempty"`
	Bandwidth        *Bandwidth `json:"bandwidth_at_footprint,omitempty"`
	MaxErr           jsonFloat  `json:"max_err"`
	// Budget is the largest fraction of the accuracy contract's tolerance
	// any output used (package reference): ≤ 1 meets the contract.
	Budget    jsonFloat `json:"contract_budget"`
	Violation string    `json:"contract_violation,omitempty"`
	// With -torch: PyTorch's time on the same kernel and shape, and
	// time(PyTorch)/time(this).
	TorchNsPerElem *float64 `json:"pytorch_ns_per_elem,omitempty"`
	VsTorch        *float64 `json:"speedup_vs_pytorch,omitempty"`
}

func (r *Result) shape() suite.Shape { return suite.Shape{N: r.N, K: r.K} }

// jsonFloat encodes ±Inf and NaN as strings, which JSON numbers cannot hold.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return []byte(strconv.Quote(strconv.FormatFloat(v, 'g', -1, 64))), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// measure runs every selected configuration and returns the report.
func measure(cfg *config, progress io.Writer) (*Report, error) {
	runtime.LockOSThread() // one core, no migration mid-measurement
	defer runtime.UnlockOSThread()

	rep := &Report{
		Machine:   describeMachine(),
		Reference: suite.ReferenceName,
		ErrorNorm: "max(|loss−ref|/|ref|, max_i |out_i−ref_i| / max_i |ref_i|) over the loss and the gradient (or primitive output); budget = largest |out−ref|/tolerance under the accuracy contract (≤ 1 passes)",
		Clock:     cfg.clock.name,
		Reps:      cfg.reps,
		Duration:  cfg.duration.String(),
	}
	m := &rep.Machine
	fmt.Fprintf(progress, "lossbench: %s, backend %s (this CPU runs %v)\n", m.CPU, m.Selected, m.Available)

	bw := &bwMeter{clock: cfg.clock, reps: cfg.reps, dur: cfg.duration, cache: map[int]Bandwidth{}}
	if cfg.bw {
		l2 := m.L2
		if l2 == 0 {
			l2 = 1 << 20
		}
		large := min(max(256<<20, 4*m.L3), 1<<30)
		fmt.Fprintf(progress, "lossbench: measuring bandwidth (%s and %s buffers)\n", sizeString(l2/2), sizeString(large))
		rep.L2BW, rep.LargeBW, rep.HasBW = bw.at(l2/2), bw.at(large), true
		delete(bw.cache, large) // do not keep the large buffer's entry pinned to a size no case uses
		runtime.GC()
	}

	type plan struct {
		k      *suite.Kernel
		dt     suite.DType
		shape  suite.Shape
		ops    []suite.Op
		nCalls int
	}
	var plans []plan
	total := 0
	for _, k := range cfg.kernels {
		shapes := cfg.shapes
		switch {
		case cfg.sweep:
			shapes = sweepShapeList(k)
		case shapes == nil:
			shapes = k.Shapes
		}
		var ops []suite.Op
		for _, op := range k.Ops() {
			if slices.Contains(cfg.ops, op) {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 { // primitives have only fwd
			ops = k.Ops()
		}
		for _, dt := range cfg.dtypes {
			for _, s := range shapes {
				plans = append(plans, plan{k, dt, s, ops, len(ops) * len(cfg.isas)})
				total += len(ops) * len(cfg.isas)
			}
		}
	}

	done := 0
	for _, p := range plans {
		data := suite.Prepare(p.k, p.shape, p.dt, cfg.seed)
		runtime.GC()
		for _, op := range p.ops {
			c := suite.Case{Kernel: p.k, Op: op, DType: p.dt, Shape: p.shape}
			for _, isa := range cfg.isas {
				done++
				fmt.Fprintf(progress, "[%3d/%d] %-17s %-6s %s %-10s %-8s", done, total, p.k.Name, op, p.dt, p.shape, isa)
				r, err := measureOne(c, data, isa, cfg)
				if err != nil {
					fmt.Fprintln(progress)
					return nil, fmt.Errorf("%s %s %s %s isa=%s: %w", p.k.Name, op, p.dt, p.shape, isa, err)
				}
				if cfg.bw {
					setLimit(&r, bw.at(int(r.BytesRead+r.BytesWritten)))
				}
				fmt.Fprintf(progress, " %8.3f ns/elem  err %.2g  budget %.2g\n", r.NsPerElem, float64(r.MaxErr), float64(r.Budget))
				if r.Violation != "" {
					fmt.Fprintf(progress, "        outside the accuracy contract: %s\n", r.Violation)
				}
				rep.Results = append(rep.Results, r)
			}
		}
	}
	setSpeedups(rep.Results)
	return rep, nil
}

func measureOne(c suite.Case, data *suite.Data, isa string, cfg *config) (Result, error) {
	restore, err := suite.Select(isa)
	if err != nil {
		return Result{}, err
	}
	call := data.Runner(c.Op, isa)
	var loss float64
	var callErr error
	f := func() {
		if callErr == nil {
			loss, callErr = call()
		}
	}
	samples := timeCalls(cfg.clock, cfg.reps, cfg.duration, f)
	allocs := allocsPerCall(f)
	var paths []string
	if isa != suite.Naive {
		paths = kernels.PathsTaken(f)
	}
	restore()
	if callErr != nil {
		return Result{}, callErr
	}
	// The buffers hold the last call's outputs: check them, no extra call.
	acc, err := data.Check(c.Op, loss)
	if err != nil {
		return Result{}, err
	}
	violation := ""
	if acc.Violation != nil {
		violation = acc.Violation.Error()
	}
	read, written := c.Traffic()
	elems := float64(c.Shape.Elems())
	ns, iqr := median(samples), quartileSpread(samples)
	fallback := false
	for _, p := range paths {
		fallback = fallback || isa != "generic" && kernels.IsFallback(p)
	}
	return Result{
		Kernel: c.Kernel.Name, Op: string(c.Op), DType: string(c.DType), N: c.Shape.N, K: c.Shape.K, Isa: isa,
		NsPerCall: ns, NsPerElem: ns / elems, GelemPerSec: elems / ns,
		MinNsPerElem: samples[0] / elems, IQR: iqr, Noisy: iqr > noisyIQR,
		AllocsPerCall: allocs, Paths: paths, Fallback: fallback,
		GBPerSec: float64(read+written) / ns, BytesRead: read, BytesWritten: written,
		MaxErr: jsonFloat(acc.MaxErr), Budget: jsonFloat(acc.Budget), Violation: violation,
	}, nil
}

// noisyIQR is the relative interquartile range above which a measurement
// is flagged noisy: on a shared machine, rerun it, or raise -reps.
const noisyIQR = 0.05

// median of sorted samples.
func median(s []float64) float64 {
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quartileSpread is (Q3 − Q1)/median of sorted samples, the quartiles by
// linear interpolation (0 for fewer than two samples).
func quartileSpread(s []float64) float64 {
	if len(s) < 2 {
		return 0
	}
	q := func(p float64) float64 {
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (x-float64(i))*(s[i+1]-s[i])
	}
	return (q(0.75) - q(0.25)) / median(s)
}

// allocsPerCall counts the heap allocations of f, averaged over a few
// calls after the timed ones (so every pool is warm). The count is the
// process's, so an allocation on another goroutine (the runtime's, a test
// framework's) lands in it too: the least of three rounds is taken, as a
// kernel that allocates does so in every round.
func allocsPerCall(f func()) float64 {
	const calls, rounds = 4, 3
	least := math.Inf(1)
	for range rounds {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			f()
		}
		runtime.ReadMemStats(&after)
		least = min(least, float64(after.Mallocs-before.Mallocs)/calls)
	}
	return least
}

// setLimit fills the bandwidth columns: the floor is the time to read and
// write the bytes touched, reads paired with writes at the copy bandwidth
// and the remaining reads at the read bandwidth.
func setLimit(r *Result, bw Bandwidth) {
	if bw.Read <= 0 || bw.Copy <= 0 {
		return
	}
	paired := min(r.BytesRead, r.BytesWritten)
	floorNs := 2*float64(paired)/bw.Copy + float64(r.BytesRead+r.BytesWritten-2*paired)/bw.Read
	frac := floorNs / r.NsPerCall
	limit := float64(r.N*r.K) / floorNs
	r.BWFraction, r.LimitGelemPerSec, r.Bandwidth = &frac, &limit, &bw
}

// setSpeedups compares each result with the generic and naive results of
// the same kernel, op, dtype and shape.
func setSpeedups(rs []Result) {
	type key struct {
		kernel, op, dtype, isa string
		n, k                   int
	}
	at := map[key]float64{}
	for _, r := range rs {
		at[key{r.Kernel, r.Op, r.DType, r.Isa, r.N, r.K}] = r.NsPerCall
	}
	for i := range rs {
		r := &rs[i]
		if ns, ok := at[key{r.Kernel, r.Op, r.DType, "generic", r.N, r.K}]; ok {
			s := ns / r.NsPerCall
			r.VsGeneric = &s
		}
		if ns, ok := at[key{r.Kernel, r.Op, r.DType, suite.Naive, r.N, r.K}]; ok {
			s := ns / r.NsPerCall
			r.VsNaive = &s
		}
	}
}
