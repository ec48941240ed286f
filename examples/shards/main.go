// Command shards computes the cross-entropy of a language-model head
// (hidden states H, N×D, times an output matrix W, V×D, one row per token
// of the vocabulary) three ways and compares them:
//
//   - one call: the N×V logits at once, CrossEntropy, then the gradients of
//     H and W from the logits' gradient;
//   - vocabulary-parallel: 4 goroutines stand in for 4 ranks, each holding
//     a quarter of W; they exchange only per-row statistics, through
//     channels standing in for an all-reduce (a max, then sums);
//   - chunked: one goroutine walks the vocabulary a chunk at a time,
//     computing each chunk's logits, consuming them and discarding them,
//     twice (statistics, then gradients), so that at most N×chunk logits
//     exist at once: the memory win of a fused linear + cross-entropy.
//
// gonum's Sgemm (blas32) does the matrix products; the options are label
// smoothing, z-loss and soft-capping, which every way must agree on.
//
//	go run ./shards
//	go run ./shards -n 64 -v 128256 -chunk 8192
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/lossfuse/lossfuse/kernels"
)

type config struct {
	N, D, V, Ranks, Chunk int
	Seed                  uint64
}

func defaults() config { return config{N: 64, D: 128, V: 32000, Ranks: 4, Chunk: 4096, Seed: 1} }

// result is the three ways' losses and gradients.
type result struct {
	Loss   [3]float32
	DH, DW [3][]float32
	// PeakLogits is the most logits (elements) each way holds at once.
	PeakLogits [3]int
	Time       [3]time.Duration
}

var wayNames = [3]string{"one call", "vocabulary-parallel", "chunked"}

// problem is the head's inputs.
type problem struct {
	c       config
	h, w    []float32 // N×D, V×D
	targets []int32
	opts    kernels.CrossEntropyOptions[float32]
}

func newProblem(c config) *problem {
	r := rand.New(rand.NewPCG(c.Seed, 7))
	p := &problem{c: c, h: make([]float32, c.N*c.D), w: make([]float32, c.V*c.D), targets: make([]int32, c.N)}
	for i := range p.h {
		p.h[i] = float32(r.NormFloat64())
	}
	scale := 3 / math.Sqrt(float64(c.D)) // logits of a few units
	for i := range p.w {
		p.w[i] = float32(scale * r.NormFloat64())
	}
	for i := range p.targets {
		p.targets[i] = int32(r.IntN(c.V))
	}
	p.targets[c.N/2] = -100 // a padding token: ignored
	p.opts = kernels.CrossEntropyOptions[float32]{LabelSmoothing: 0.1, ZLoss: 1e-4, SoftCap: 30}
	return p
}

func general(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// logits writes H·W[lo:hi]ᵀ (N×(hi−lo)) into out.
func (p *problem) logits(lo, hi int, out []float32) {
	c := p.c
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, general(c.N, c.D, p.h), general(hi-lo, c.D, p.w[lo*c.D:hi*c.D]),
		0, general(c.N, hi-lo, out))
}

// backward adds G·W[lo:hi] to dh (N×D) and writes Gᵀ·H to dw (the rows
// lo…hi−1 of W's gradient), for the logits' gradient G (N×(hi−lo)).
func (p *problem) backward(lo, hi int, g, dh, dw []float32) {
	c := p.c
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, general(c.N, hi-lo, g), general(hi-lo, c.D, p.w[lo*c.D:hi*c.D]),
		1, general(c.N, c.D, dh))
	blas32.Gemm(blas.Trans, blas.NoTrans, 1, general(c.N, hi-lo, g), general(c.N, c.D, p.h),
		0, general(hi-lo, c.D, dw))
}

// oneCall is the reference: all N×V logits, one CrossEntropy call.
func (p *problem) oneCall() (loss float32, dh, dw []float32, err error) {
	c := p.c
	logits := make([]float32, c.N*c.V)
	p.logits(0, c.V, logits)
	loss, err = kernels.CrossEntropy(logits, p.targets, c.N, c.V, logits, &p.opts) // gradient in place
	if err != nil {
		return 0, nil, nil, err
	}
	dh, dw = make([]float32, c.N*c.D), make([]float32, c.V*c.D)
	p.backward(0, c.V, logits, dh, dw)
	return loss, dh, dw, nil
}

// allReduce stands in for a collective: every rank sends its vector and
// receives the elementwise combination of all of them (op: max or sum), in
// rank order, so every rank gets the same bits.
type allReduce struct {
	in  []chan []float64
	out []chan []float64
}

func newAllReduce(ranks int) *allReduce {
	a := &allReduce{}
	for range ranks {
		a.in = append(a.in, make(chan []float64))
		a.out = append(a.out, make(chan []float64))
	}
	return a
}

// serve combines one round; it runs on its own goroutine.
func (a *allReduce) serve(op func(x, y float64) float64) {
	var acc []float64
	for r, ch := range a.in {
		v := <-ch
		if r == 0 {
			acc = append([]float64(nil), v...)
			continue
		}
		for i := range acc {
			acc[i] = op(acc[i], v[i])
		}
	}
	for _, ch := range a.out {
		ch <- append([]float64(nil), acc...)
	}
}

// do is rank r's side of one round.
func (a *allReduce) do(r int, v []float64) []float64 {
	a.in[r] <- v
	return <-a.out[r]
}

func maxOp(x, y float64) float64 { return math.Max(x, y) }
func sumOp(x, y float64) float64 { return x + y }

// rank is one rank's step: its quarter of the logits, pass 1, two
// all-reduces of per-row statistics, the loss, pass 2, its share of the
// gradients, and a third all-reduce for the gradient of H (which every
// rank's shard contributes to).
func (p *problem) rank(r int, ar *allReduce, dw []float32) (loss float32, dh []float32, err error) {
	c := p.c
	lo, hi := r*c.V/c.Ranks, (r+1)*c.V/c.Ranks
	sh := kernels.VocabShard{Lo: lo, Hi: hi, V: c.V}
	logits := make([]float32, c.N*(hi-lo))
	p.logits(lo, hi, logits)
	st := kernels.NewShardStats(c.N)
	// Every rank takes every round, even after an error, so that none waits
	// forever; the error is reported at the end.
	err = kernels.CrossEntropyShard(logits, p.targets, c.N, sh, st, &p.opts)
	globalMax := ar.do(r, st.Max)
	if err == nil {
		err = st.Rebase(globalMax)
	}
	// One sum round carries Sum, Smooth, Target and the two counts.
	n := c.N
	packed := make([]float64, 0, 3*n+2)
	packed = append(append(append(packed, st.Sum...), st.Smooth...), st.Target...)
	packed = append(packed, float64(st.Classes), st.SmoothWeight)
	sums := ar.do(r, packed)
	copy(st.Sum, sums[:n])
	copy(st.Smooth, sums[n:2*n])
	copy(st.Target, sums[2*n:3*n])
	st.Classes, st.SmoothWeight = int(sums[3*n]), sums[3*n+1]
	if err == nil {
		loss, err = kernels.CrossEntropyShardLoss(st, p.targets, c.N, c.V, &p.opts)
	}
	if err == nil {
		err = kernels.CrossEntropyShardGrad(logits, p.targets, c.N, sh, st, logits, &p.opts) // in place
	}
	dh = make([]float32, c.N*c.D)
	if err == nil {
		p.backward(lo, hi, logits, dh, dw[lo*c.D:hi*c.D])
	}
	wide := make([]float64, len(dh))
	for i, v := range dh {
		wide[i] = float64(v)
	}
	total := ar.do(r, wide)
	for i, v := range total {
		dh[i] = float32(v)
	}
	return loss, dh, err
}

// parallel runs the ranks on goroutines.
func (p *problem) parallel() (loss float32, dh, dw []float32, err error) {
	c := p.c
	ar := newAllReduce(c.Ranks)
	go func() {
		ar.serve(maxOp)
		ar.serve(sumOp)
		ar.serve(sumOp)
	}()
	dw = make([]float32, c.V*c.D)
	type out struct {
		loss float32
		dh   []float32
		err  error
	}
	done := make(chan out, c.Ranks)
	for r := range c.Ranks {
		go func() {
			l, d, e := p.rank(r, ar, dw)
			if e != nil {
				e = fmt.Errorf("rank %d: %w", r, e)
			}
			done <- out{l, d, e}
		}()
	}
	for range c.Ranks {
		o := <-done
		if o.err != nil && err == nil {
			err = o.err
		}
		loss, dh = o.loss, o.dh // every rank has the same loss and dh
	}
	return loss, dh, dw, err
}

// chunked walks the vocabulary a chunk at a time, twice: pass 1 folds each
// chunk's statistics into running ones, pass 2 recomputes each chunk's
// logits and turns them into their gradient in place. Only one chunk of
// logits exists at a time.
func (p *problem) chunked() (loss float32, dh, dw []float32, err error) {
	c := p.c
	buf := make([]float32, c.N*min(c.Chunk, c.V))
	all, part := kernels.NewShardStats(c.N), kernels.NewShardStats(c.N)
	for lo := 0; lo < c.V; lo += c.Chunk {
		hi := min(lo+c.Chunk, c.V)
		sh := kernels.VocabShard{Lo: lo, Hi: hi, V: c.V}
		logits := buf[:c.N*(hi-lo)]
		p.logits(lo, hi, logits)
		into := part
		if lo == 0 {
			into = all
		}
		if err := kernels.CrossEntropyShard(logits, p.targets, c.N, sh, into, &p.opts); err != nil {
			return 0, nil, nil, err
		}
		if lo > 0 {
			if err := all.Combine(part); err != nil {
				return 0, nil, nil, err
			}
		}
	}
	if loss, err = kernels.CrossEntropyShardLoss(all, p.targets, c.N, c.V, &p.opts); err != nil {
		return 0, nil, nil, err
	}
	dh, dw = make([]float32, c.N*c.D), make([]float32, c.V*c.D)
	for lo := 0; lo < c.V; lo += c.Chunk {
		hi := min(lo+c.Chunk, c.V)
		sh := kernels.VocabShard{Lo: lo, Hi: hi, V: c.V}
		logits := buf[:c.N*(hi-lo)]
		p.logits(lo, hi, logits)
		if err := kernels.CrossEntropyShardGrad(logits, p.targets, c.N, sh, all, logits, &p.opts); err != nil {
			return 0, nil, nil, err
		}
		p.backward(lo, hi, logits, dh, dw[lo*c.D:hi*c.D])
	}
	return loss, dh, dw, nil
}

func run(c config) (*result, error) {
	if c.N < 2 || c.D < 1 || c.Ranks < 1 || c.V < c.Ranks || c.Chunk < 1 {
		return nil, fmt.Errorf("want n ≥ 2, d ≥ 1, 1 ≤ ranks ≤ v and chunk ≥ 1")
	}
	p := newProblem(c)
	res := &result{PeakLogits: [3]int{c.N * c.V, c.N * ((c.V + c.Ranks - 1) / c.Ranks), c.N * min(c.Chunk, c.V)}}
	ways := [3]func() (float32, []float32, []float32, error){p.oneCall, p.parallel, p.chunked}
	for i, way := range ways {
		start := time.Now()
		loss, dh, dw, err := way()
		res.Time[i] = time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wayNames[i], err)
		}
		res.Loss[i], res.DH[i], res.DW[i] = loss, dh, dw
	}
	return res, nil
}

// relDiff is max|a − b| / max|a|.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(a[i])))
	}
	return d / m
}

func report(w io.Writer, c config, res *result) {
	fmt.Fprintf(w, "LM head: N=%d tokens, D=%d, V=%d; label smoothing 0.1, z-loss 1e-4, soft-cap 30; %d ranks, chunks of %d\n",
		c.N, c.D, c.V, c.Ranks, c.Chunk)
	fmt.Fprintf(w, "%-20s %12s %14s %14s %14s %10s\n", "way", "loss", "dH vs one call", "dW vs one call", "logits held", "time")
	for i := range 3 {
		fmt.Fprintf(w, "%-20s %12.7f %14.2e %14.2e %11.1f MB %10s\n", wayNames[i], res.Loss[i],
			relDiff(res.DH[0], res.DH[i]), relDiff(res.DW[0], res.DW[i]),
			float64(4*res.PeakLogits[i])/1e6, res.Time[i].Round(time.Millisecond))
	}
}

func main() {
	c := defaults()
	flag.IntVar(&c.N, "n", c.N, "tokens (rows)")
	flag.IntVar(&c.D, "d", c.D, "hidden size")
	flag.IntVar(&c.V, "v", c.V, "vocabulary size")
	flag.IntVar(&c.Ranks, "ranks", c.Ranks, "vocabulary-parallel ranks")
	flag.IntVar(&c.Chunk, "chunk", c.Chunk, "vocabulary chunk of the chunked way")
	flag.Uint64Var(&c.Seed, "seed", c.Seed, "random seed")
	flag.Parse()
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shards:", err)
		os.Exit(1)
	}
	report(os.Stdout, c, res)
}
