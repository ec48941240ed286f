package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// A Runner spreads calls over several goroutines. Pass it in an options
// struct (CrossEntropyOptions.Runner, BinaryOptions.Runner, …); a nil
// Runner, the default, runs a call on the calling goroutine alone. There is
// no hidden global pool: a Runner's workers exist from NewRunner until
// Close, and only calls that name it use them.
//
// Results do not depend on the number of workers. A call of at least
// ParallelMinElems elements is cut into fixed blocks of rows (or elements)
// whose size depends only on the call's shape, each block runs the
// backend's kernel as a call of its own would, and the blocks' partial
// losses are added in block order. The loss, gradient and per-row outputs
// are therefore bit-identical for every worker count, every GOMAXPROCS and
// every run on the same backend. Against a call without a Runner the
// gradient and per-row outputs are identical too, and the loss, summed in
// another order, agrees within the accuracy contract. Smaller calls run on
// the caller's goroutine alone, exactly as without a Runner: there waking a
// worker would cost more than it saves.
//
// A Runner is safe for concurrent use. The caller of each call works on its
// own call's blocks and offers the rest to the workers; it waits only for
// workers that joined its call, so concurrent callers share the workers
// without waiting for each other. A call in steady state does not allocate.
//
// A worker that finishes a call polls for the next one for WorkerSpin
// before it sleeps, as OpenMP runtimes do: waking a sleeping thread took
// 160 µs on the 2-vCPU virtual machine this was measured on, a sixth of a
// 4096×256 BCE call, and back-to-back calls (micro-batches, several losses
// per step) then never pay it. The first call after a pause does.
type Runner struct {
	*pool // the workers, apart from the handle so that a dropped Runner can stop them
}

type pool struct {
	workers  int
	minElems atomic.Int64 // see SetMinElems
	block    atomic.Int64 // see SetBlockElems; 0: by the call's size (blockFor)
	jobs     chan *job    // offers of calls to join; a nil job stops a worker
	done     sync.WaitGroup
	once     sync.Once
}

// NewRunner starts a Runner that uses up to p goroutines per call: the
// caller's and p−1 workers. p ≤ 0 means runtime.GOMAXPROCS(0). Call Close
// when done with it (a Runner that becomes unreachable is closed by the
// garbage collector too).
func NewRunner(p int) *Runner {
	if p <= 0 {
		p = runtime.GOMAXPROCS(0)
	}
	pl := &pool{workers: p - 1, jobs: make(chan *job, p)}
	pl.minElems.Store(ParallelMinElems)
	pl.done.Add(pl.workers)
	// Only as many workers spin as there are other processors: spinners
	// beyond GOMAXPROCS would take turns with the caller (eight
	// goroutines on two processors slowed every call under qemu).
	spinners := min(pl.workers, runtime.GOMAXPROCS(0)-1)
	for i := range pl.workers {
		go pl.work(i < spinners)
	}
	r := &Runner{pl}
	runtime.AddCleanup(r, func(pl *pool) { pl.close() }, pl)
	return r
}

// Goroutines returns p, the most goroutines a call uses.
func (r *Runner) Goroutines() int { return r.workers + 1 }

// SetMinElems sets the smallest call the Runner spreads (N×K elements;
// ParallelMinElems by default), for a machine where waking a worker costs
// more or less than on the one the default was measured on. Results depend
// on it (a smaller call is one block), never on the number of goroutines.
func (r *Runner) SetMinElems(n int) { r.minElems.Store(int64(max(n, 1))) }

// SetBlockElems sets the work of one block: the rows of a row-wise call
// are cut into blocks of about n elements, a flat call into blocks of n.
// By default (and after SetBlockElems(0)) a block is a sixteenth of the
// call, at least 16384 and at most 65536 elements. Results depend on it
// (like on SetMinElems), never on the number of goroutines. Small blocks
// balance short calls better and cost more per element; the fuzzer uses
// blocks of 64 elements to put block boundaries everywhere.
func (r *Runner) SetBlockElems(n int) { r.block.Store(int64(max(n, 0))) }

// blockFor is the block size for a call of elems elements.
func (r *Runner) blockFor(elems int) int {
	if b := r.block.Load(); b > 0 {
		return int(b)
	}
	return min(max(elems/16, blockElems), maxBlockElems)
}

// Close stops the workers and waits until they have exited. Calls that use
// the Runner afterwards, or while Close runs, are still correct: they run on
// the caller's goroutine alone. Close may be called more than once.
func (r *Runner) Close() { r.close() }

func (pl *pool) close() {
	pl.once.Do(func() {
		for range pl.workers {
			pl.jobs <- nil // a nil job tells one worker to exit
		}
		pl.done.Wait()
	})
}

func (pl *pool) work(spin bool) {
	defer pl.done.Done()
	for {
		j := pl.receive(spin)
		if j == nil {
			return
		}
		if j.join(pl) {
			j.drain()
			j.leave()
		}
	}
}

// WorkerSpin is how long a worker polls for a call before it sleeps (at
// most GOMAXPROCS−1 of a Runner's workers poll; the others sleep at once).
const WorkerSpin = 100 * time.Microsecond

// receive returns the next offer, polling for WorkerSpin before it blocks.
func (pl *pool) receive(spin bool) *job {
	if !spin {
		return <-pl.jobs
	}
	deadline := time.Now().Add(WorkerSpin)
	for {
		select {
		case j := <-pl.jobs:
			return j
		default:
		}
		if time.Now().After(deadline) {
			return <-pl.jobs
		}
		runtime.Gosched()
	}
}

// ParallelMinElems is the smallest call (N×K elements; the element count
// of a regression call) that a Runner spreads over its workers: two
// blocks. Below it a call runs on the caller's goroutine, where one block
// would gain nothing (go test -bench RunnerThreshold ./bench measures the
// crossover).
const ParallelMinElems = 2 * blockElems

// blockElems is the smallest block: large enough that claiming it costs
// nothing next to the kernel (a few microseconds of work), small enough
// that a call of a few blocks balances over two goroutines (4096×10 in
// blocks of 3264 rows: 1.17× on two; of 1600 rows: 1.44×). Larger calls
// take a sixteenth of their elements per block, up to maxBlockElems: on
// AMD Zen 5 two goroutines ran CE and BCE-with-logits 4096×256 in 0.27
// and 0.48 ns/elem with blocks of 16384 elements, in 0.20 and 0.44 with
// blocks of 65536 (go test -bench Runner ./bench); sixteen blocks still
// balance over two to eight goroutines. Long rows take at least eight rows
// per block (blockRows).
const (
	blockElems    = 1 << 14
	maxBlockElems = 1 << 16
)

// blockRows is the rows per block for rows of k elements in blocks of
// about be elements: at least eight rows of more than 4096 (the long-row
// kernels pipeline each row's first pass with the previous row's second:
// at 256×32000 on one goroutine, blocks of one row took 0.41 ns/elem, of
// two 0.36, of eight 0.31, the whole call 0.31), and a multiple of 64 rows
// when that is more than 64, so that the row-grouped kernels for short
// rows (groups of 8 or 16 rows) see the same groups and the same
// remainder as one call.
func blockRows(n, k, be int) int {
	rows := max(1, be/k)
	if k > 4096 {
		rows = max(rows, 8)
	}
	if rows > 64 {
		rows = rows / 64 * 64
	}
	return min(rows, n)
}

// blockTask is one call cut into blocks; runBlock runs block b and returns
// its partial loss.
type blockTask interface {
	runBlock(b int) float64
}

// job is one call in flight: the blocks left to claim, their partial
// losses, and the workers that joined it. An offer stays in the channel
// after its call may have ended, and the job may serve another call (of
// another Runner) by then: a worker joins only an open job of its own
// Runner, and the caller waits only for the workers that joined.
type job struct {
	task    blockTask
	blocks  int64
	next    atomic.Int64
	partial []float64
	owner   *pool
	state   atomic.Int64 // closed | number of workers in the call

	// The typed tasks, one per kernel family and element type, live in the
	// job so that a pooled job needs no further allocation.
	ce32    ceTask[float32]
	ce64    ceTask[float64]
	bin32   binaryTask[float32]
	bin64   binaryTask[float64]
	reg32   regressionTask[float32]
	reg64   regressionTask[float64]
	scan32  scanTask[float32]
	scan64  scanTask[float64]
	rows32  rowsTask[float32]
	rows64  rowsTask[float64]
	elem32  elemTask[float32]
	elem64  elemTask[float64]
	shard32 shardTask[float32]
	shard64 shardTask[float64]
	half    halfCETask
	halfBin halfBinaryTask
}

const closed = 1 << 62

var jobs = sync.Pool{New: func() any {
	j := new(job)
	j.state.Store(closed)
	return j
}}

// join enters j's call if it is open and pl's.
func (j *job) join(pl *pool) bool {
	for {
		v := j.state.Load()
		if v&closed != 0 {
			return false
		}
		if j.state.CompareAndSwap(v, v+1) {
			break
		}
	}
	if j.owner != pl { // read after joining: set before the job opened
		j.leave()
		return false
	}
	return true
}

func (j *job) leave() { j.state.Add(-1) }

// drain claims and runs blocks until none is left.
func (j *job) drain() {
	for {
		b := j.next.Add(1) - 1
		if b >= j.blocks {
			return
		}
		j.partial[b] = j.task.runBlock(int(b))
	}
}

// run runs the job's blocks on the caller and on every idle worker, and
// returns the partial losses' sum in block order.
func (pl *pool) run(j *job, blocks int) float64 {
	j.blocks = int64(blocks)
	j.next.Store(0)
	if cap(j.partial) < blocks {
		j.partial = make([]float64, blocks)
	}
	j.partial = j.partial[:blocks]
	j.owner = pl
	j.state.Store(0) // open: workers may join from here on
offer:
	for range min(pl.workers, blocks-1) {
		select {
		case pl.jobs <- j:
		default: // offers pending already: the workers are busy or closed
			break offer
		}
	}
	j.drain()
	// Wait for the workers in the call: each finishes the one block it
	// holds. Spinning, not parking: a parked caller is woken onto the
	// worker's processor, and the worker then waits for a sleeping one
	// (BenchmarkRunnerThreshold at two blocks of 32 rows of 1000: 0.96× → 1.73×).
	// Gosched lets a worker that shares the caller's processor finish.
	for j.state.Add(closed); j.state.Load() != closed; {
		runtime.Gosched()
	}
	var sum compensated
	for _, p := range j.partial {
		sum.add(p)
	}
	return sum.value()
}

// parallel reports whether r spreads a call of elems elements.
func (r *Runner) parallel(elems int) bool {
	return r != nil && int64(elems) >= r.minElems.Load()
}

// slot returns the job's task of type S.
func slot[S any](j *job) *S {
	var p any
	switch any((*S)(nil)).(type) {
	case *ceTask[float32]:
		p = &j.ce32
	case *halfCETask:
		p = &j.half
	case *halfBinaryTask:
		p = &j.halfBin
	case *ceTask[float64]:
		p = &j.ce64
	case *binaryTask[float32]:
		p = &j.bin32
	case *binaryTask[float64]:
		p = &j.bin64
	case *regressionTask[float32]:
		p = &j.reg32
	case *regressionTask[float64]:
		p = &j.reg64
	case *scanTask[float32]:
		p = &j.scan32
	case *scanTask[float64]:
		p = &j.scan64
	case *rowsTask[float32]:
		p = &j.rows32
	case *rowsTask[float64]:
		p = &j.rows64
	case *elemTask[float32]:
		p = &j.elem32
	case *elemTask[float64]:
		p = &j.elem64
	case *shardTask[float32]:
		p = &j.shard32
	case *shardTask[float64]:
		p = &j.shard64
	default:
		panic("kernels: no job slot for this task type")
	}
	return p.(*S)
}

// spread runs task's blocks on r and returns their partials' sum: the task
// goes into a pooled job's slot of its type, so nothing is allocated, and
// is cleared afterwards so that the pool keeps none of the caller's slices.
func spread[S any, PS interface {
	*S
	blockTask
}](r *Runner, task S, blocks int) float64 {
	j := jobs.Get().(*job)
	t := PS(slot[S](j))
	*t = task
	j.task = t
	sum := r.run(j, blocks)
	var zero S
	*t = zero
	j.task = nil
	jobs.Put(j)
	return sum
}

type ceTask[T Float] struct {
	a    args.CE[T]
	run  func(args.CE[T]) float64
	rows int
}

func (t *ceTask[T]) runBlock(b int) float64 {
	lo := b * t.rows
	hi := min(lo+t.rows, t.a.N)
	return t.run(ceBlock(t.a, lo, hi))
}

// ceBlock is a's rows [lo, hi).
func ceBlock[T Float](a args.CE[T], lo, hi int) args.CE[T] {
	k := a.K
	b := a
	b.N, b.Whole = hi-lo, a.N*a.K
	b.X = a.X[lo*k : hi*k]
	if a.Targets != nil {
		b.Targets = a.Targets[lo:hi]
	}
	if a.Probs != nil {
		b.Probs = a.Probs[lo*k : hi*k]
	}
	if a.Teacher != nil {
		b.Teacher = a.Teacher[lo*k : hi*k]
	}
	if a.Grad != nil {
		b.Grad = a.Grad[lo*k : hi*k]
	}
	if a.RowLoss != nil {
		b.RowLoss = a.RowLoss[lo:hi]
	}
	if a.RowLSE != nil {
		b.RowLSE = a.RowLSE[lo:hi]
	}
	return b
}

// runCE is impl.CrossEntropy(a), spread over r's workers when a is large.
func runCE[T Float](r *Runner, a *args.CE[T]) float64 {
	return runCEWith(r, nil, a)
}

// runCEWith is run(a) (a row kernel over args.CE; nil for
// impl.CrossEntropy, which a serial call reaches by directCE where it can),
// spread likewise.
func runCEWith[T Float](r *Runner, run func(args.CE[T]) float64, a *args.CE[T]) float64 {
	if !r.parallel(a.N * a.K) {
		if run == nil {
			if sum, ok := directCE(a); ok {
				return sum
			}
			run = impl[T]().CrossEntropy
		}
		return run(*a)
	}
	if run == nil {
		run = impl[T]().CrossEntropy
	}
	rows := blockRows(a.N, a.K, r.blockFor(a.N*a.K))
	return spread(r, ceTask[T]{a: *a, run: run, rows: rows}, (a.N+rows-1)/rows)
}

// binaryTask runs a binary loss over blocks of whole rows, through the
// broadcast helpers when the weights are per class or per row.
type binaryTask[T Float] struct {
	a          args.Binary[T]
	cw, rw     []T
	rows       int
	run        func(args.Binary[T]) float64
	class, row bool
}

func (t *binaryTask[T]) runBlock(b int) float64 {
	lo := b * t.rows
	hi := min(lo+t.rows, t.a.N)
	blk := block(t.a, lo, hi-lo, 0, t.a.K, nil)
	switch {
	case t.class:
		return classWeighted(blk, t.cw)
	case t.row:
		return rowWeighted(blk, t.rw[lo:hi])
	}
	if t.a.Weight != nil {
		blk.Weight = t.a.Weight[lo*t.a.K : hi*t.a.K]
	}
	return t.run(blk)
}

// runBinary is the binary loss a (class weights cw or row weights rw when
// non-nil), spread over r's workers when a is large.
func runBinary[T Float](r *Runner, a args.Binary[T], cw, rw []T) float64 {
	if !r.parallel(a.N * a.K) {
		switch {
		case cw != nil:
			return classWeighted(a, cw)
		case rw != nil:
			return rowWeighted(a, rw)
		}
		return impl[T]().Binary(a)
	}
	rows := blockRows(a.N, a.K, r.blockFor(a.N*a.K))
	task := binaryTask[T]{a: a, cw: cw, rw: rw, rows: rows, run: impl[T]().Binary, class: cw != nil, row: rw != nil}
	return spread(r, task, (a.N+rows-1)/rows)
}

type regressionTask[T Float] struct {
	a     args.Regression[T]
	run   func(args.Regression[T]) float64
	block int
}

func (t *regressionTask[T]) runBlock(b int) float64 {
	lo := b * t.block
	hi := min(lo+t.block, len(t.a.X))
	blk := t.a
	blk.X, blk.Y = t.a.X[lo:hi], t.a.Y[lo:hi]
	if t.a.Weight != nil {
		blk.Weight = t.a.Weight[lo:hi]
	}
	if t.a.Grad != nil {
		blk.Grad = t.a.Grad[lo:hi]
	}
	if t.a.Loss != nil {
		blk.Loss = t.a.Loss[lo:hi]
	}
	return t.run(blk)
}

// runRegression is impl.Regression(a), spread over r's workers when a is
// large.
func runRegression[T Float](r *Runner, a args.Regression[T]) float64 {
	return runRegressionWith(r, impl[T]().Regression, a)
}

// runRegressionWith is run(a) (an element-wise kernel over
// args.Regression), spread likewise.
func runRegressionWith[T Float](r *Runner, run func(args.Regression[T]) float64, a args.Regression[T]) float64 {
	n := len(a.X)
	if !r.parallel(n) {
		return run(a)
	}
	be := r.blockFor(n)
	return spread(r, regressionTask[T]{a: a, run: run, block: be}, (n+be-1)/be)
}

// scanTask runs a validation scan over flat blocks; a block's partial is 1
// where it found a bad value. Validation reads every input before any
// output is written, and on a Runner it is as parallel as the kernel: a
// serial scan of the targets took a tenth of a BCE call.
type scanTask[T Float] struct {
	s       []T
	weights bool // the weights' scan (finite, ≥ 0) instead of [0, 1]
	block   int
}

func (t *scanTask[T]) runBlock(b int) float64 {
	lo := b * t.block
	if scanFinds(t.s[lo:min(lo+t.block, len(t.s))], t.weights) {
		return 1
	}
	return 0
}

// scanFinds runs the backend's scan: a value outside [0, 1], or with
// weights set a weight that is negative, NaN or infinite.
func scanFinds[T Float](s []T, weights bool) bool {
	if weights {
		_, ok := impl[T]().Weights(s, false)
		return !ok
	}
	return impl[T]().OutsideUnit(s)
}

// scan is scanFinds spread over r's workers when s is large.
func scan[T Float](r *Runner, s []T, weights bool) bool {
	if !r.parallel(len(s)) {
		return scanFinds(s, weights)
	}
	be := r.blockFor(len(s))
	return spread(r, scanTask[T]{s: s, weights: weights, block: be}, (len(s)+be-1)/be) != 0
}

// rowsTask runs a row-wise primitive over blocks of rows; full is set when
// dst holds N×K values (Softmax, LogSoftmax), not N (LogSumExp).
type rowsTask[T Float] struct {
	a    args.Rows[T]
	run  func(args.Rows[T])
	rows int
	full bool
}

func (t *rowsTask[T]) runBlock(b int) float64 {
	k := t.a.K
	lo := b * t.rows
	hi := min(lo+t.rows, t.a.N)
	blk := t.a
	blk.N, blk.Whole = hi-lo, t.a.N*k
	blk.X = t.a.X[lo*k : hi*k]
	if t.full {
		blk.Dst = t.a.Dst[lo*k : hi*k]
	} else {
		blk.Dst = t.a.Dst[lo:hi]
	}
	switch {
	case t.a.LSE != nil: // LogSumExpBackward: dy and lse per row
		blk.Dy, blk.LSE = t.a.Dy[lo:hi], t.a.LSE[lo:hi]
	case t.a.Dy != nil:
		blk.Dy = t.a.Dy[lo*k : hi*k]
	}
	t.run(blk)
	return 0
}

// runRows is run(a), spread over r's workers when a is large.
func runRows[T Float](r *Runner, run func(args.Rows[T]), a args.Rows[T], full bool) {
	if !r.parallel(a.N * a.K) {
		run(a)
		return
	}
	rows := blockRows(a.N, a.K, r.blockFor(a.N*a.K))
	spread(r, rowsTask[T]{a: a, run: run, rows: rows, full: full}, (a.N+rows-1)/rows)
}

// elemTask runs an element-wise primitive over flat blocks.
type elemTask[T Float] struct {
	a     args.Elementwise[T]
	run   func(args.Elementwise[T])
	block int
}

func (t *elemTask[T]) runBlock(b int) float64 {
	lo := b * t.block
	hi := min(lo+t.block, len(t.a.X))
	blk := t.a
	blk.X, blk.Dst = t.a.X[lo:hi], t.a.Dst[lo:hi]
	if t.a.Dy != nil {
		blk.Dy = t.a.Dy[lo:hi]
	}
	t.run(blk)
	return 0
}

// runElementwise is run(a), spread over r's workers when a is large.
func runElementwise[T Float](r *Runner, run func(args.Elementwise[T]), a args.Elementwise[T]) {
	n := len(a.X)
	if !r.parallel(n) {
		run(a)
		return
	}
	be := r.blockFor(n)
	spread(r, elemTask[T]{a: a, run: run, block: be}, (n+be-1)/be)
}
