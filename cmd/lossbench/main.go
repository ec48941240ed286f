// Command lossbench measures lossfuse on this machine: which backend the
// dispatch picks, how fast every kernel runs on every backend against the
// pure-Go generic kernels and the textbook Go loop (isa=naive), how close
// each gets to the single-core memory bandwidth, and how accurate each is
// against a float64 reference on the same data.
//
//	go run ./cmd/lossbench                     # default report, about a minute
//	go run ./cmd/lossbench -kernels CrossEntropy -shapes 256x32000 -plot ce.svg
//	go run ./cmd/lossbench -json > report.json
//
// Progress goes to standard error, the report to standard output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lossfuse/lossfuse/bench/suite"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// config is the parsed command line.
type config struct {
	kernels  []*suite.Kernel
	shapes   []suite.Shape // nil: each kernel's default shapes
	isas     []string
	dtypes   []suite.DType
	ops      []suite.Op
	duration time.Duration // per measurement, over all repetitions
	reps     int
	clock    clock
	json     bool
	markdown bool
	plot     string
	bw       bool
	seed     uint64
	torch    *PyTorch // -torch: PyTorch's times to compare with
	sweep    bool     // -sweep: each kernel over sweepShapes, cliffs reported
	scaling  bool     // -scaling: the multi-core curve of kernels.Runner
	half     bool     // -half: the 16-bit kernels beside float32
}

// errUsage marks an error already reported with the usage text.
var errUsage = errors.New("usage")

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("lossbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kernelsF  = fs.String("kernels", "all", "comma-separated kernels to measure, or all: "+kernelNames())
		shapesF   = fs.String("shapes", "", "comma-separated NxK shapes for every kernel (default: each kernel's own, e.g. CE at 4096x10,1024x1000,256x32000,64x128256)")
		backendsF = fs.String("backends", "all", "comma-separated backends: naive and any of "+strings.Join(suite.Isas()[1:], ", ")+", or all")
		dtypesF   = fs.String("dtype", "f32", "element types: f32, f64, f32,f64 or all (as -f64)")
		f64F      = fs.Bool("f64", false, "measure float64 beside float32 (-dtype all): each kernel's f64 table follows its f32 one")
		opsF      = fs.String("op", "fwdbwd", "fwd (loss only), fwdbwd (loss and gradient) or fwd,fwdbwd; primitives always run fwd, their backward passes bwd")
		durationF = fs.Duration("duration", 150*time.Millisecond, "time to spend per measurement, over all repetitions")
		repsF     = fs.Int("reps", 5, "repetitions per measurement; the median is reported")
		clockF    = fs.String("clock", "", "cpu: the measuring thread's CPU time (default where available, robust on a shared machine), or wall")
		jsonF     = fs.Bool("json", false, "print the report as JSON instead of tables")
		mdF       = fs.Bool("markdown", false, "print one Markdown summary table (as in the README) instead of the tables")
		plotF     = fs.String("plot", "", "write a plot of throughput against K per backend to `FILE.svg` (or .png)")
		bwF       = fs.Bool("bandwidth", true, "measure memory bandwidth (needed for the %BW column)")
		seedF     = fs.Uint64("seed", 1, "seed of the generated inputs")
		torchF    = fs.String("torch", "", "add PyTorch's ns/elem and the speed-up over it from `FILE.json`, written by tools/torchbench/torchbench.py --json")
		scalingF  = fs.Bool("scaling", false, "measure the multi-core curve instead: CE, BCE-with-logits, sigmoid focal and MSE (float32, fwd+bwd) without a Runner and with P = 1 … GOMAXPROCS goroutines, wall clock, and check that every P gives the same loss bits")
		halfF     = fs.Bool("half", false, "measure the 16-bit kernels instead: CrossEntropy, CrossEntropyProbs, SoftmaxFocal, BCEWithLogits and SigmoidFocal fwd+bwd on bfloat16 and float16 inputs with a 16-bit gradient beside float32 on the same values, on each selected backend, with the ratio to float32 in the same run")
		sweepF    = fs.Bool("sweep", false, "sweep K = 2…262144 and N = 1…4096 (flat kernels: 256…4M elements) instead of the fixed shapes, plot ns/elem against K (default lossbench-sweep.svg) and report every shape more than 1.5× off its series' fit; by default CrossEntropy, CrossEntropyProbs, SoftmaxFocal, Softmax, BCEWithLogits, SigmoidFocal and MSE, 40ms × 3 per measurement")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: lossbench [flags]\n\nMeasures every lossfuse kernel on every backend of this CPU; see the README.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage // the flag package has printed the problem and usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	c := &config{duration: *durationF, reps: *repsF, json: *jsonF, markdown: *mdF, plot: *plotF, bw: *bwF, seed: *seedF, sweep: *sweepF, scaling: *scalingF, half: *halfF}
	if c.json && c.markdown {
		return nil, fmt.Errorf("-json and -markdown: choose one output format")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.sweep {
		if set["shapes"] {
			return nil, fmt.Errorf("-sweep and -shapes: the sweep chooses its own shapes")
		}
		if c.markdown {
			return nil, fmt.Errorf("-sweep and -markdown: the sweep prints tables and its cliffs")
		}
		if !set["kernels"] {
			*kernelsF = "CrossEntropy,CrossEntropyProbs,SoftmaxFocal,Softmax,BCEWithLogits,SigmoidFocal,MSE"
		}
		if !set["duration"] {
			c.duration = 40 * time.Millisecond
		}
		if !set["reps"] {
			c.reps = 3
		}
		if !set["plot"] {
			c.plot = "lossbench-sweep.svg"
		}
	}
	var err error
	if c.kernels, err = parseKernels(*kernelsF); err != nil {
		return nil, err
	}
	if strings.TrimSpace(*shapesF) != "" {
		for _, s := range splitList(*shapesF) {
			sh, err := suite.ParseShape(s)
			if err != nil {
				return nil, fmt.Errorf("-shapes: %v", err)
			}
			c.shapes = append(c.shapes, sh)
		}
	}
	if c.isas, err = parseBackends(*backendsF); err != nil {
		return nil, err
	}
	dts := splitList(*dtypesF)
	if *f64F || strings.EqualFold(*dtypesF, "all") {
		dts = []string{"f32", "f64"}
	}
	for _, d := range dts {
		dt := suite.DType(strings.ToLower(d))
		if dt != suite.F32 && dt != suite.F64 {
			return nil, fmt.Errorf("-dtype: %q is not f32 or f64", d)
		}
		if !slices.Contains(c.dtypes, dt) {
			c.dtypes = append(c.dtypes, dt)
		}
	}
	for _, o := range splitList(*opsF) {
		op := suite.Op(strings.ToLower(o))
		if op != suite.Fwd && op != suite.FwdBwd && op != suite.Bwd {
			return nil, fmt.Errorf("-op: %q is not fwd, fwdbwd or bwd", o)
		}
		if !slices.Contains(c.ops, op) {
			c.ops = append(c.ops, op)
		}
	}
	if len(c.dtypes) == 0 || len(c.ops) == 0 {
		return nil, fmt.Errorf("-dtype and -op need at least one value")
	}
	if c.duration <= 0 {
		return nil, fmt.Errorf("-duration %v: must be positive", c.duration)
	}
	if c.clock, err = pickClock(strings.ToLower(strings.TrimSpace(*clockF))); err != nil {
		return nil, err
	}
	if c.reps < 1 || c.reps > 1000 {
		return nil, fmt.Errorf("-reps %d: must be between 1 and 1000", c.reps)
	}
	if *torchF != "" {
		if c.torch, err = loadTorch(*torchF); err != nil {
			return nil, err
		}
	}
	if p := strings.ToLower(c.plot); p != "" && !strings.HasSuffix(p, ".svg") && !strings.HasSuffix(p, ".png") {
		return nil, fmt.Errorf("-plot %q: the file name must end in .svg (or .png)", c.plot)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func kernelNames() string {
	var names []string
	for _, k := range suite.Kernels {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}

func parseKernels(s string) ([]*suite.Kernel, error) {
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return suite.Kernels, nil
	}
	var ks []*suite.Kernel
	for _, name := range splitList(s) {
		k := suite.Lookup(name)
		if k == nil {
			return nil, fmt.Errorf("-kernels: unknown kernel %q (have %s)", name, kernelNames())
		}
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("-kernels: no kernel named")
	}
	return ks, nil
}

func parseBackends(s string) ([]string, error) {
	avail := suite.Isas()
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return avail, nil
	}
	var isas []string
	for _, name := range splitList(s) {
		name = strings.ToLower(name)
		if !slices.Contains(avail, name) {
			return nil, fmt.Errorf("-backends: %q is not a backend this CPU runs (have %s)", name, strings.Join(avail, ", "))
		}
		if !slices.Contains(isas, name) {
			isas = append(isas, name)
		}
	}
	if len(isas) == 0 {
		return nil, fmt.Errorf("-backends: no backend named")
	}
	// Report in the usual order: naive, then generic and up.
	slices.SortFunc(isas, func(a, b string) int { return slices.Index(avail, a) - slices.Index(avail, b) })
	return isas, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "lossbench: %v\n", err)
		return 2
	}
	if cfg.half {
		if err := runHalf(cfg, stdout); err != nil {
			fmt.Fprintf(stderr, "lossbench: %v\n", err)
			return 1
		}
		return 0
	}
	if cfg.scaling {
		if err := runScaling(cfg, stdout); err != nil {
			fmt.Fprintf(stderr, "lossbench: %v\n", err)
			return 1
		}
		return 0
	}
	rep, err := measure(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lossbench: %v\n", err)
		return 1
	}
	if t := cfg.torch; t != nil {
		rep.PyTorch = t
		n := setTorch(rep.Results, t)
		fmt.Fprintf(stderr, "lossbench: %s: PyTorch times for %d of the %d results\n", t.File, n, len(rep.Results))
		if c := t.cpu(); c != rep.Machine.CPU {
			fmt.Fprintf(stderr, "lossbench: warning: %s was measured on CPU %q, this is %q\n", t.File, c, rep.Machine.CPU)
		}
	}
	if cfg.sweep {
		rep.Cliffs = findCliffs(rep.Results, sweepAxis(cfg.kernels))
	}
	switch {
	case cfg.json:
		err = writeJSON(stdout, rep)
	case cfg.markdown:
		err = writeMarkdown(stdout, rep)
	default:
		err = writeText(stdout, rep)
	}
	if err == nil && cfg.sweep {
		axis := sweepAxis(cfg.kernels)
		if !cfg.json {
			err = writeCliffs(stdout, rep.Cliffs)
		}
		// The plot shows the K sweep: the N sweeps repeat K = 10 and 1000.
		plotted := *rep
		plotted.Results = slices.DeleteFunc(slices.Clone(rep.Results), func(r Result) bool {
			a := axis(r)
			return a != "K" && a != "N·K"
		})
		rep = &plotted
	}
	if err == nil && cfg.plot != "" {
		if err = writePlot(cfg.plot, rep); err == nil {
			fmt.Fprintf(stderr, "lossbench: wrote %s\n", cfg.plot)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "lossbench: %v\n", err)
		return 1
	}
	return 0
}
