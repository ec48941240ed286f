package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/lossfuse/lossfuse/kernels"
)

// Machine describes the CPU, the Go build and the dispatch.
type Machine struct {
	CPU        string   `json:"cpu"`
	Vendor     string   `json:"vendor,omitempty"`
	Family     int      `json:"family,omitempty"`
	Model      int      `json:"model,omitempty"`
	Cores      int      `json:"logical_cores"`
	Features   []string `json:"features"` // the SIMD features lossfuse cares about, present ones only
	L1D        int      `json:"l1d_bytes,omitempty"`
	L2         int      `json:"l2_bytes,omitempty"`
	L3         int      `json:"l3_bytes,omitempty"`
	Go         string   `json:"go"`
	GOOS       string   `json:"goos"`
	GOARCH     string   `json:"goarch"`
	GOMAXPROCS int      `json:"gomaxprocs"`
	Selected   string   `json:"backend"`     // what kernels dispatches to
	MaxISA     string   `json:"max_isa"`     // LOSSFUSE_MAX_ISA, if set
	Available  []string `json:"backends"`    // backends this CPU runs
	Compiled   []string `json:"compiled_in"` // backends in this binary
}

// relevantFeatures are the ISA extensions the backends use or could use,
// as cpuid names them.
var relevantFeatures = []string{
	"SSE42", "AVX", "AVX2", "FMA3", "BMI2", "AVX512F", "AVX512DQ", "AVX512BW", "AVX512VL",
	"AVX512FP16", "ASIMD", "ASIMDHP", "ASIMDDP", "SVE", "SVE2",
}

func describeMachine() Machine {
	info := kernels.CPUInfo()
	c := &cpuid.CPU // cache sizes, which CPUInfo leaves out
	m := Machine{
		CPU: strings.TrimSpace(info.Name), Vendor: info.Vendor,
		Family: info.Family, Model: info.Model, Cores: runtime.NumCPU(),
		L1D: positive(c.Cache.L1D), L2: positive(c.Cache.L2), L3: positive(c.Cache.L3),
		Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Selected:   info.Backend, MaxISA: os.Getenv(kernels.MaxISAEnv),
		Available: info.Supported, Compiled: info.Compiled,
	}
	if m.CPU == "" {
		m.CPU = procModelName()
	}
	if m.CPU == "" {
		m.CPU = fmt.Sprintf("%s %s CPU (family %d, model %d)", m.Vendor, runtime.GOARCH, m.Family, m.Model)
	}
	for _, f := range relevantFeatures {
		if slices.Contains(info.Features, f) {
			m.Features = append(m.Features, f)
		}
	}
	return m
}

// procModelName reads the CPU's name from Linux's /proc/cpuinfo, where
// cpuid has none (arm64 has no brand string instruction).
func procModelName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(key), "model name") {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

func positive(v int) int { return max(v, 0) }

// Bandwidth is single-core memory bandwidth at one footprint, in GB/s.
// Read uses the runtime's vectorised memequal (bytes.Equal of two halves),
// copy the runtime's memmove (the built-in copy); copy counts the bytes
// read and the bytes written.
type Bandwidth struct {
	Bytes int     `json:"bytes"`
	Read  float64 `json:"read_gbps"`
	Copy  float64 `json:"copy_gbps"`
}

// bwMeter measures and caches bandwidth per footprint.
type bwMeter struct {
	clock clock
	reps  int
	dur   time.Duration
	cache map[int]Bandwidth
}

// at returns the bandwidth for a working set of footprint bytes: a buffer
// of that size read once, or copied half to half.
func (b *bwMeter) at(footprint int) Bandwidth {
	footprint = max(footprint&^127, 256)
	if bw, ok := b.cache[footprint]; ok {
		return bw
	}
	buf := make([]byte, footprint)
	for i := range buf { // touch every page before timing
		buf[i] = 1
	}
	half := footprint / 2
	src, dst := buf[:half], buf[half:2*half]
	sink := true
	// The fastest repetition: a limit is what the machine can do, and a
	// loaded machine only ever makes it look slower.
	read := 1e9 / timeCalls(b.clock, b.reps, b.dur, func() { sink = sink && bytes.Equal(src, dst) })[0]
	cp := 1e9 / timeCalls(b.clock, b.reps, b.dur, func() { copy(dst, src) })[0]
	if !sink {
		panic("lossbench: equal buffers compared unequal")
	}
	bw := Bandwidth{Bytes: footprint, Read: float64(2*half) * read / 1e9, Copy: float64(2*half) * cp / 1e9}
	b.cache[footprint] = bw
	return bw
}

// clock reads a monotonic time in nanoseconds.
type clock struct {
	name string
	now  func() int64
}

var wallClock = clock{"wall clock", func() int64 { return time.Now().UnixNano() }}

// pickClock returns the thread CPU clock when asked for and available.
func pickClock(name string) (clock, error) {
	switch name {
	case "wall":
		return wallClock, nil
	case "cpu":
		if _, ok := threadCPUNow(); !ok {
			return clock{}, fmt.Errorf("-clock cpu: no thread CPU clock on %s; use -clock wall", runtime.GOOS)
		}
		return clock{"thread CPU time", func() int64 { t, _ := threadCPUNow(); return t }}, nil
	case "":
		if _, ok := threadCPUNow(); ok {
			return pickClock("cpu")
		}
		return wallClock, nil
	}
	return clock{}, fmt.Errorf("-clock %q: want cpu or wall", name)
}

// timeCalls times f and returns the time per call in nanoseconds of each
// repetition, sorted. It calibrates an iteration count so that the
// repetitions together take about d; a call slower than d/reps lowers the
// number of repetitions (to one at least), so that the largest shapes on
// the naive baseline stay within budget.
func timeCalls(c clock, reps int, d time.Duration, f func()) []float64 {
	start := c.now()
	f() // warm caches, TLB and branch predictors; also the first estimate
	el, iters := time.Duration(c.now()-start), 1
	target := d / time.Duration(reps)
	for el < target/8 && iters < 1<<30 {
		iters *= 8
		start = c.now()
		for i := 0; i < iters; i++ {
			f()
		}
		el = time.Duration(c.now() - start)
	}
	per := max(float64(el)/float64(iters), 1)
	reps = max(1, min(reps, int(float64(d)/per)))
	iters = max(1, int(float64(d)/float64(reps)/per))
	samples := make([]float64, reps)
	for r := range samples {
		start := c.now()
		for i := 0; i < iters; i++ {
			f()
		}
		samples[r] = float64(c.now()-start) / float64(iters)
	}
	slices.Sort(samples)
	return samples
}

func (bw Bandwidth) String() string {
	return fmt.Sprintf("%s: read %.1f GB/s, copy %.1f GB/s", sizeString(bw.Bytes), bw.Read, bw.Copy)
}

func sizeString(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.3g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
