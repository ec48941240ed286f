package kernels

import (
	"math"
	"sync"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Cross-entropy over a vocabulary split into shards: the logits of N rows
// over V classes are held (or computed) a slice of classes at a time, and
// never exist whole. Each shard runs pass 1, CrossEntropyShard, into a
// ShardStats; the stats of all shards are combined (Combine in one process,
// or Rebase and a sum over ranks); CrossEntropyShardLoss turns the combined
// stats into the loss, and pass 2, CrossEntropyShardGrad, writes each
// shard's gradient from them. The semantics are CrossEntropy's with every
// option but Runner applying as in one call over all V classes.

// VocabShard is the classes [Lo, Hi) of a vocabulary of V classes: the
// columns that a shard's logits hold, row-major N×(Hi−Lo).
type VocabShard struct{ Lo, Hi, V int }

// ShardStats holds, for each of N rows, what pass 1 of cross-entropy
// learned from the classes it covered: one shard's after CrossEntropyShard,
// several shards' after Combine. z is the (soft-capped) logit and w the
// class weight (1 without Weight).
//
// To combine across processes: all-reduce Max with max, Rebase every
// rank's stats to that maximum, then all-reduce Sum, Smooth, Target,
// Classes and SmoothWeight with a sum. Combine does the same in one process.
type ShardStats struct {
	Max    []float64 // a reference maximum of z over the covered classes (−Inf: none finite)
	Sum    []float64 // Σ exp(z − Max)
	Smooth []float64 // (ε/V)·Σ w·(z − Max) with label smoothing ε, else 0
	Target []float64 // the target's z if it is covered (and the row not ignored), else 0

	Classes      int     // number of classes covered
	SmoothWeight float64 // (ε/V)·Σ w over the covered classes (0 without smoothing)
	V            int     // the vocabulary size
}

// NewShardStats returns stats for n rows that cover no class yet: Combine
// into them adopts the other stats, so that
//
//	all := kernels.NewShardStats(n)
//	for _, st := range shards { all.Combine(st) }
//
// merges every shard and leaves each shard's stats as they were.
func NewShardStats(n int) *ShardStats {
	b := make([]float64, 4*n)
	s := &ShardStats{Max: b[:n:n], Sum: b[n : 2*n : 2*n], Smooth: b[2*n : 3*n : 3*n], Target: b[3*n:]}
	for i := range s.Max {
		s.Max[i] = math.Inf(-1)
	}
	return s
}

// Rows returns stats for rows [lo, hi) of s, sharing its memory, with
// nothing covered yet: pass 1 over those rows of a shard fills them. Cut
// a large call into blocks of rows this way so that each block's logits
// stay in cache between its two passes.
func (s *ShardStats) Rows(lo, hi int) ShardStats {
	return ShardStats{Max: s.Max[lo:hi:hi], Sum: s.Sum[lo:hi:hi], Smooth: s.Smooth[lo:hi:hi], Target: s.Target[lo:hi:hi]}
}

// Combine merges o into s: afterwards s covers the classes of both. Both
// must have the same rows and V. The merge is exact up to one rounding per
// rescaled sum, so any grouping of the shards gives the same loss and
// gradient within the accuracy contract, and the same grouping and order
// gives bit-identical results.
func (s *ShardStats) Combine(o *ShardStats) error {
	n := len(s.Max)
	if err := s.check("s", n); err != nil {
		return err
	}
	if err := o.check("o", n); err != nil {
		return err
	}
	if s.Classes == 0 && s.V == 0 {
		s.V = o.V // fresh stats (NewShardStats): take the other's vocabulary
	}
	if s.V != o.V {
		return wrapf(ErrShape, "stats of vocabularies of %d and %d classes", s.V, o.V)
	}
	if s.Classes+o.Classes > s.V {
		return wrapf(ErrShape, "stats cover %d + %d classes of a vocabulary of %d: some classes twice", s.Classes, o.Classes, s.V)
	}
	for i := range n {
		m := max(s.Max[i], o.Max[i])
		s1, d1 := rebase(s.Max[i], s.Sum[i], s.Smooth[i], s.SmoothWeight, m)
		s2, d2 := rebase(o.Max[i], o.Sum[i], o.Smooth[i], o.SmoothWeight, m)
		s.Max[i], s.Sum[i], s.Smooth[i] = m, s1+s2, d1+d2
		s.Target[i] += o.Target[i]
	}
	s.Classes += o.Classes
	s.SmoothWeight += o.SmoothWeight
	return nil
}

// Rebase rewrites s relative to the maximum m[i] of each row (len N; the
// all-reduced Max of every rank), so that the stats of all ranks can then
// be added.
func (s *ShardStats) Rebase(m []float64) error {
	n := len(s.Max)
	if err := s.check("s", n); err != nil {
		return err
	}
	if err := checkLen("m", m, n); err != nil {
		return err
	}
	for i, mi := range m[:n] {
		s.Sum[i], s.Smooth[i] = rebase(s.Max[i], s.Sum[i], s.Smooth[i], s.SmoothWeight, mi)
		s.Max[i] = mi
	}
	return nil
}

// rebase moves a row's sums from reference m to reference to: Σ exp(z −
// to) = s·exp(m − to) and Σ w·(z − to) = d + W·(m − to). Stats that cover
// only −Inf logits (m = −Inf) have s = 0 and Σ w·(z − to) = −Inf wherever
// a covered weight is positive.
func rebase(m, s, d, wsum, to float64) (float64, float64) {
	switch {
	case m == to:
		return s, d
	case math.IsInf(m, -1):
		if wsum > 0 {
			return 0, math.Inf(-1)
		}
		return 0, 0
	}
	return s * math.Exp(m-to), d + wsum*(m-to)
}

// check validates the stats' lengths for n rows; name names them in errors.
func (s *ShardStats) check(name string, n int) error {
	if s == nil {
		return wrapf(ErrLength, "%s: nil ShardStats", name)
	}
	if len(s.Max) != n || len(s.Sum) != n || len(s.Smooth) != n || len(s.Target) != n {
		return s.lengthErr(name, n)
	}
	return nil
}

//go:noinline
func (s *ShardStats) lengthErr(name string, n int) error {
	var r rules
	r.length(name+".Max", len(s.Max), n)
	r.length(name+".Sum", len(s.Sum), n)
	r.length(name+".Smooth", len(s.Smooth), n)
	r.length(name+".Target", len(s.Target), n)
	return r.err
}

// complete checks that stats cover the whole vocabulary of v classes.
func (s *ShardStats) complete(v int) error {
	if s.V != v || s.Classes != v {
		return wrapf(ErrShape, "stats cover %d classes of a vocabulary of %d; want all %d (combine every shard's stats first)", s.Classes, s.V, v)
	}
	return nil
}

// CrossEntropyShard is pass 1 of cross-entropy over a vocabulary shard:
// it reads the shard's logits (N×(Hi−Lo), the classes sh.Lo…sh.Hi−1 of
// each row) and overwrites st with their statistics. targets (len N) are
// classes of the whole vocabulary; o is the options of the whole call
// (Weight has length V), of which pass 1 uses Weight, Ignore,
// LabelSmoothing, SoftCap and Runner.
func CrossEntropyShard[T Float](logits []T, targets []int32, n int, sh VocabShard, st *ShardStats, o *CrossEntropyOptions[T]) error {
	if o == nil {
		o = &CrossEntropyOptions[T]{}
	}
	c, err := newShardCall(logits, targets, n, sh, st, o, false)
	if err != nil {
		return err
	}
	if err := shardOverlap(st, spanOf(logits), spanOf(targets), spanOf(c.w)); err != nil {
		return err
	}
	c.run(o.Runner, false)
	// Scaled by ε/V term by term, as the smoothing sums: a sum of weights
	// near MaxFloat64 must not overflow where the loss does not.
	epsV := c.eps / float64(c.v)
	wsum := epsV * float64(c.ks)
	if c.w != nil {
		wsum = 0
		for _, w := range c.w[c.lo : c.lo+c.ks] {
			wsum += epsV * float64(w)
		}
	}
	st.Classes, st.SmoothWeight, st.V = c.ks, wsum, c.v
	return nil
}

// CrossEntropyShardLoss returns the cross-entropy loss of N rows from the
// stats of the whole vocabulary of v classes (every shard's, combined),
// with CrossEntropy's reduction, and writes o.RowLoss and o.RowLSE when set.
func CrossEntropyShardLoss[T Float](st *ShardStats, targets []int32, n, v int, o *CrossEntropyOptions[T]) (T, error) {
	if o == nil {
		o = &CrossEntropyOptions[T]{}
	}
	if configErr != nil {
		return 0, configErr
	}
	if _, err := checkShape(n, v); err != nil {
		return 0, err
	}
	if err := checkShardOptions(o, n, v); err != nil {
		return 0, err
	}
	if err := checkLen("targets", targets, n); err != nil {
		return 0, err
	}
	if err := st.check("st", n); err != nil {
		return 0, err
	}
	if err := st.complete(v); err != nil {
		return 0, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := classTargets(targets, v, ignore, hasIgnore, o.Weight)
	if err != nil {
		return 0, err
	}
	bs := &buffers{
		out:   [3]span{spanOf(o.RowLoss), spanOf(o.RowLSE)},
		in:    [4]span{spanOf(targets), spanOf(o.Weight), spanOf(st.Max), spanOf(st.Sum)},
		names: shardLossNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	bs.in = [4]span{spanOf(st.Smooth), spanOf(st.Target)}
	bs.names = shardLossNames2
	if err := bs.check(); err != nil {
		return 0, err
	}
	eps, zl := o.LabelSmoothing, o.ZLoss
	var sum float64
	for i, y := range targets[:n] {
		lr := math.Log(st.Sum[i])
		lse := st.Max[i] + lr
		if o.RowLSE != nil {
			o.RowLSE[i] = T(lse)
		}
		var loss float64
		switch {
		case hasIgnore && y == ignore:
		case !finite(lse):
			loss = math.NaN() // a row holding NaN or +Inf, or only −Inf
		default:
			wy := 1.0
			if o.Weight != nil {
				wy = float64(o.Weight[y])
			}
			// lse − z_y ≥ 0; it can round below 0 only when a soft-capped
			// target logit is the row maximum.
			loss = (1-eps)*wy*max((st.Max[i]-st.Target[i])+lr, 0) + zl*wy*lse*lse
			if eps != 0 {
				// (ε/V)·Σ_c w_c·(lse − z_c) = (ε/V)·W·lr − (ε/V)·Σ_c w_c·(z_c − Max):
				// both terms ≥ 0.
				loss += st.SmoothWeight*lr - st.Smooth[i]
			}
		}
		if o.RowLoss != nil {
			o.RowLoss[i] = T(loss)
		}
		sum += loss
	}
	if o.Normalizer > 0 {
		norm = o.Normalizer
	}
	loss, _ := reduce(o.Reduction, o.EmptyMean, sum, norm)
	return T(loss), nil
}

// CrossEntropyShardGrad is pass 2 of cross-entropy over a vocabulary
// shard: from the stats of the whole vocabulary it writes the gradient of
// the loss CrossEntropyShardLoss returns with respect to the shard's
// logits into grad (N×(Hi−Lo); grad may be logits itself). o must be the
// options of pass 1 and of the loss.
func CrossEntropyShardGrad[T Float](logits []T, targets []int32, n int, sh VocabShard, st *ShardStats, grad []T, o *CrossEntropyOptions[T]) error {
	if o == nil {
		o = &CrossEntropyOptions[T]{}
	}
	c, err := newShardCall(logits, targets, n, sh, st, o, true)
	if err != nil {
		return err
	}
	if err := checkLen("grad", grad, n*c.ks); err != nil {
		return err
	}
	if err := st.complete(sh.V); err != nil {
		return err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad)},
		in:      [4]span{spanOf(logits), spanOf(targets), spanOf(c.w), spanOf(st.Max)},
		inPlace: 1, names: shardGradNames,
	}
	if err := bs.check(); err != nil {
		return err
	}
	bs.in = [4]span{spanOf(logits), spanOf(st.Sum), spanOf(st.Smooth), spanOf(st.Target)}
	bs.names = shardGradNames2
	if err := bs.check(); err != nil {
		return err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, _ := classTargets(targets, c.v, ignore, hasIgnore, c.w) // validated by newShardCall
	if o.Normalizer > 0 {
		norm = o.Normalizer
	}
	c.grad, c.scale = grad, scaleFor(o.Reduction, o.EmptyMean, norm)
	c.zl = o.ZLoss
	c.run(o.Runner, true)
	return nil
}

var (
	shardLossNames  = &bufferNames{out: [3]string{"RowLoss", "RowLSE"}, in: [4]string{"targets", "Weight", "st.Max", "st.Sum"}}
	shardLossNames2 = &bufferNames{out: [3]string{"RowLoss", "RowLSE"}, in: [4]string{"st.Smooth", "st.Target"}}
	shardGradNames  = &bufferNames{out: [3]string{"grad"}, in: [4]string{"logits", "targets", "Weight", "st.Max"}}
	shardGradNames2 = &bufferNames{out: [3]string{"grad"}, in: [4]string{"logits", "st.Sum", "st.Smooth", "st.Target"}}
)

// shardOverlap rejects pass 1's stats sharing memory with an input or
// with each other.
func shardOverlap(st *ShardStats, in ...span) error {
	out := [4]span{spanOf(st.Max), spanOf(st.Sum), spanOf(st.Smooth), spanOf(st.Target)}
	names := [4]string{"st.Max", "st.Sum", "st.Smooth", "st.Target"}
	inNames := [3]string{"logits", "targets", "Weight"}
	for i, o := range out {
		for j, s := range in {
			if o.overlaps(s) {
				return wrapf(ErrOverlap, "%s shares memory with %s: the stats must not overlap any input", names[i], inNames[j])
			}
		}
		for j := i + 1; j < len(out); j++ {
			if o.overlaps(out[j]) {
				return wrapf(ErrOverlap, "%s shares memory with %s: each of the stats needs its own memory", names[i], names[j])
			}
		}
	}
	return nil
}

// checkShardOptions validates the options of a sharded call of n rows
// over v classes (the same for each of its calls).
func checkShardOptions[T Float](o *CrossEntropyOptions[T], n, v int) error {
	var r rules
	return ceOptions(&r, o, n, v, "Weight")
}

func finite(v float64) bool { return v-v == 0 }

// statRows are the per-row slices of a ShardStats and its weight sum.
type statRows struct {
	Max, Sum, Smooth, Target []float64
	SmoothWeight             float64
}

// shardCall is one pass over a shard, validated.
type shardCall[T Float] struct {
	x       []T
	targets []int32
	st      statRows // slices, not the caller's *ShardStats: a task keeps no pointer to it
	grad    []T
	w       []T // class weights, len V, or nil
	n, ks   int // rows, classes in the shard
	lo, v   int
	ignore  int32
	hasIgn  bool
	capv    float64
	eps, zl float64
	scale   float64
}

func newShardCall[T Float](logits []T, targets []int32, n int, sh VocabShard, st *ShardStats, o *CrossEntropyOptions[T], pass2 bool) (shardCall[T], error) {
	var c shardCall[T]
	if configErr != nil {
		return c, configErr
	}
	if _, err := checkShape(n, sh.V); err != nil {
		return c, err
	}
	if !(0 <= sh.Lo && sh.Lo < sh.Hi && sh.Hi <= sh.V) {
		return c, wrapf(ErrShape, "shard [%d, %d) of a vocabulary of %d: want 0 ≤ Lo < Hi ≤ V", sh.Lo, sh.Hi, sh.V)
	}
	ks := sh.Hi - sh.Lo
	nk, err := checkShape(n, ks)
	if err != nil {
		return c, err
	}
	if err := checkShardOptions(o, n, sh.V); err != nil {
		return c, err
	}
	var r rules
	r.length("logits", len(logits), nk)
	r.length("targets", len(targets), n)
	if r.err != nil {
		return c, r.err
	}
	if err := st.check("st", n); err != nil {
		return c, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	if _, err := classTargets(targets, sh.V, ignore, hasIgnore, o.Weight); err != nil {
		return c, err
	}
	rows := statRows{Max: st.Max, Sum: st.Sum, Smooth: st.Smooth, Target: st.Target, SmoothWeight: st.SmoothWeight}
	c = shardCall[T]{x: logits, targets: targets, st: rows, w: o.Weight, n: n, ks: ks, lo: sh.Lo, v: sh.V,
		ignore: ignore, hasIgn: hasIgnore, capv: o.SoftCap, eps: o.LabelSmoothing}
	return c, nil
}

// shardBlock is the rows each backend call of a pass covers (the scratch
// arrays' length).
const shardBlock = 64

// rowScratch holds a block's per-row vectors for the backend passes, from a
// pool: as arguments through the backend's function table they would move
// to the heap if they were local arrays.
type rowScratch[T Float] struct {
	m, ls, coef, bias [shardBlock]T
	dot               [shardBlock]float64
}

var (
	scratch32 = sync.Pool{New: func() any { return new(rowScratch[float32]) }}
	scratch64 = sync.Pool{New: func() any { return new(rowScratch[float64]) }}
)

func getScratch[T Float]() *rowScratch[T] {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(scratch32.Get()).(*rowScratch[T])
	}
	return any(scratch64.Get()).(*rowScratch[T])
}

func putScratch[T Float](s *rowScratch[T]) {
	var z T
	if _, ok := any(z).(float32); ok {
		scratch32.Put(s)
	} else {
		scratch64.Put(s)
	}
}

// run runs pass 1 (or pass 2) over all rows, spread over r when large.
func (c *shardCall[T]) run(r *Runner, pass2 bool) {
	if !r.parallel(c.n * c.ks) {
		c.rows(0, c.n, pass2)
		return
	}
	rows := blockRows(c.n, c.ks, r.blockFor(c.n*c.ks))
	spread(r, shardTask[T]{c: *c, pass2: pass2, rows: rows}, (c.n+rows-1)/rows)
}

// shardTask runs a pass over blocks of rows.
type shardTask[T Float] struct {
	c     shardCall[T]
	pass2 bool
	rows  int
}

func (t *shardTask[T]) runBlock(b int) float64 {
	lo := b * t.rows
	t.c.rows(lo, min(lo+t.rows, t.c.n), t.pass2)
	return 0
}

// rows runs the pass over rows [r0, r1) in backend calls of shardBlock rows.
func (c *shardCall[T]) rows(r0, r1 int, pass2 bool) {
	s := getScratch[T]()
	defer putScratch(s)
	for b := r0; b < r1; b += shardBlock {
		m := min(shardBlock, r1-b)
		if pass2 {
			c.gradBlock(s, b, m)
		} else {
			c.statsBlock(s, b, m)
		}
	}
}

// statsBlock is pass 1 over rows r0…r0+m−1.
func (c *shardCall[T]) statsBlock(s *rowScratch[T], r0, m int) {
	ks, st := c.ks, c.st
	var w []T
	if c.w != nil {
		w = c.w[c.lo : c.lo+ks]
	}
	x := c.x[r0*ks : (r0+m)*ks]
	smooth := c.eps != 0
	p := args.RowPass[T]{X: x, N: m, K: ks, SoftCap: T(c.capv), Weight: w, M: s.m[:m], LS: s.ls[:m], Whole: c.n * ks}
	if smooth {
		p.Dot, p.DotScale = s.dot[:m], c.eps/float64(c.v)
	}
	impl[T]().RowStats(p)
	for i := range m {
		row := x[i*ks : i*ks+ks]
		mx, ls := float64(s.m[i]), float64(s.ls[i])
		var sum, dot float64
		if finite(mx) && finite(ls) {
			sum = math.Exp(ls)
			if smooth {
				dot = s.dot[i]
			}
		} else {
			mx, sum, dot = generic.RowStatsExact(row, w, c.capv, smooth, c.eps/float64(c.v))
		}
		j := r0 + i
		st.Max[j], st.Sum[j], st.Smooth[j] = mx, sum, dot
		if !smooth {
			st.Smooth[j] = 0
		}
		st.Target[j] = 0
		y := int(c.targets[j]) - c.lo
		if (c.hasIgn && c.targets[j] == c.ignore) || y < 0 || y >= ks {
			continue
		}
		zy := float64(row[y])
		if c.capv > 0 {
			zy = c.capv * math.Tanh(zy/c.capv)
		}
		st.Target[j] = zy
	}
}

// gradBlock is pass 2 over rows r0…r0+m−1: the vector pass writes
// scale·(pc·p_j − (ε/V)·w_j) for every class, and the target element is
// rewritten from float64 so that p_y − 1 does not cancel.
func (c *shardCall[T]) gradBlock(s *rowScratch[T], r0, m int) {
	ks, st := c.ks, c.st
	var w []T
	if c.w != nil {
		w = c.w[c.lo : c.lo+ks]
	}
	x, g := c.x[r0*ks:(r0+m)*ks], c.grad[r0*ks:(r0+m)*ks]
	epsV := c.eps / float64(c.v)
	bias := T(c.scale * epsV)
	biasFits := fits[T](c.scale * epsV)
	// Rows the vector pass takes are gathered in runs; ignored, non-finite
	// and wide rows (a factor beyond T) are written here.
	run0 := 0
	flush := func(i int) {
		if run0 < i {
			impl[T]().RowExp(args.RowPass[T]{X: x[run0*ks : i*ks], Dst: g[run0*ks : i*ks], N: i - run0, K: ks,
				SoftCap: T(c.capv), Weight: w, M: s.m[run0:i], LS: s.ls[run0:i], Coef: s.coef[run0:i], Bias: s.bias[run0:i],
				Whole: c.n * ks})
		}
		run0 = i + 1
	}
	var ys [shardBlock]int // the target's column in the shard, or −1
	for i := range m {
		j := r0 + i
		ys[i] = -1
		row := g[i*ks : i*ks+ks]
		if c.hasIgn && c.targets[j] == c.ignore {
			flush(i)
			clear(row)
			continue
		}
		lr := math.Log(st.Sum[j])
		lse := st.Max[j] + lr
		if !finite(lse) {
			flush(i)
			nan := T(math.NaN())
			for k := range row {
				row[k] = nan
			}
			continue
		}
		y := c.targets[j]
		wy := 1.0
		if c.w != nil {
			wy = float64(c.w[y])
		}
		pc := (1-c.eps)*wy + 2*c.zl*wy*lse
		if c.eps != 0 {
			pc += st.SmoothWeight
		}
		coef := c.scale * pc
		if !biasFits || !fits[T](coef) {
			flush(i)
			generic.ExpAffineRow(x[i*ks:i*ks+ks], row, w, st.Max[j], lr, coef, epsV, c.scale, c.capv)
		} else {
			mt := T(st.Max[j])
			s.m[i], s.ls[i], s.coef[i], s.bias[i] = mt, T(lse-float64(mt)), T(coef), bias
		}
		if yc := int(y) - c.lo; yc >= 0 && yc < ks {
			ys[i] = yc
		}
	}
	flush(m)
	for i := range m {
		yc := ys[i]
		if yc < 0 {
			continue
		}
		j := r0 + i
		wy := 1.0
		if c.w != nil {
			wy = float64(c.w[c.targets[j]])
		}
		lr := math.Log(st.Sum[j])
		lse := st.Max[j] + lr
		pc := (1-c.eps)*wy + 2*c.zl*wy*lse
		if c.eps != 0 {
			pc += st.SmoothWeight
		}
		wt := (1 - c.eps) * wy
		zy := st.Target[j]
		// Where p_y > ½, pc·p_y − wt = pc·(p_y − 1) + (pc − wt) with p_y − 1
		// by expm1; below, the direct form is the accurate one. The scale
		// meets pc before p_y does, as in the single call (F56: pc·p_y
		// alone can underflow where the gradient does not, F62).
		lpy := min((zy-st.Max[j])-lr, 0)
		spc := c.scale * pc
		gy := spc*math.Exp(lpy) - c.scale*wt
		if lpy > -math.Ln2 && spc-spc == 0 {
			gy = spc*math.Expm1(lpy) + c.scale*(pc-wt)
		}
		gy -= c.scale * (epsV * wy)
		if c.capv > 0 { // d(cap·tanh(x/cap))/dx = 1 − (z/cap)²
			t := zy / c.capv
			gy *= 1 - t*t
		}
		g[i*ks+yc] = T(gy)
	}
}

// fits reports whether a gradient factor formed in float64 can go to the
// vector pass as a T: 0, not finite (the pass then gives the IEEE result),
// or within T's normal range. A factor beyond float32 would overflow; a
// subnormal one keeps too few bits (a mean over class weights near
// MaxFloat64 scales by ~1/Σw: F61).
func fits[T Float](c float64) bool {
	a := math.Abs(c)
	if a == 0 || a-a != 0 {
		return true
	}
	var z T
	if _, ok := any(z).(float32); ok {
		return 0x1p-126 <= a && a <= math.MaxFloat32
	}
	return 0x1p-1022 <= a
}
