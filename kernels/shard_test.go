package kernels_test

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/internal/shardtest"
	"github.com/lossfuse/lossfuse/kernels"
)

// shardCuts draws the boundaries 0 = c₀ < c₁ < … < c_S = k of 1 to 5
// shards of k classes.
func shardCuts(rng *rand.Rand, k int) []int {
	s := 1 + rng.Intn(min(5, k))
	cuts := []int{0, k}
	for len(cuts) < s+1 {
		c := 1 + rng.Intn(k-1)
		if !slices.Contains(cuts, c) {
			cuts = append(cuts, c)
		}
	}
	slices.Sort(cuts)
	return cuts
}

// TestShardCombineOrder: a fixed grouping gives bit-identical results run
// after run, and the three groupings agree within a few roundings.
func TestShardCombineOrder(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(5))
		n, k := 7, 1000
		x := make([]float32, n*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
		}
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		w := make([]float32, k)
		for i := range w {
			w[i] = float32(rng.Float64())
		}
		o := &kernels.CrossEntropyOptions[float32]{Weight: w, LabelSmoothing: 0.1, ZLoss: 1e-3, SoftCap: 30}
		cuts := []int{0, 10, 333, 334, 999, 1000}
		var first []float32
		var firstLoss float32
		for g := range 3 {
			for rep := range 2 {
				grad := make([]float32, n*k)
				loss, err := shardtest.CrossEntropy(x, targets, n, k, grad, o, cuts, g)
				if err != nil {
					t.Fatal(err)
				}
				if g == 0 && rep == 0 {
					first, firstLoss = grad, loss
					continue
				}
				if g == 0 {
					if loss != firstLoss || !slices.Equal(grad, first) {
						t.Fatalf("grouping 0 run twice: loss %v, %v; gradients equal: %v", firstLoss, loss, slices.Equal(grad, first))
					}
					continue
				}
				if d := math.Abs(float64(loss - firstLoss)); d > 1e-6*math.Abs(float64(firstLoss)) {
					t.Errorf("grouping %d: loss %v, grouping 0: %v", g, loss, firstLoss)
				}
				for i := range grad {
					if d := math.Abs(float64(grad[i] - first[i])); d > 1e-6*math.Abs(float64(first[i]))+1e-9 {
						t.Fatalf("grouping %d: grad[%d] = %v, grouping 0: %v", g, i, grad[i], first[i])
					}
				}
			}
		}
	})
}

// TestShardErrors: bad input gives the error class and leaves every output
// untouched.
func TestShardErrors(t *testing.T) {
	n, v := 3, 10
	x := make([]float32, n*4)
	targets := []int32{1, 5, -100}
	good := kernels.VocabShard{Lo: 2, Hi: 6, V: v}
	fresh := func() *kernels.ShardStats {
		st := kernels.NewShardStats(n)
		for i := range st.Max {
			st.Max[i], st.Sum[i] = 7, 7
		}
		return st
	}
	untouched := func(st *kernels.ShardStats) bool {
		return st.Max[0] == 7 && st.Sum[n-1] == 7 && st.Classes == 0
	}
	cases := []struct {
		name string
		want error
		call func(st *kernels.ShardStats) error
	}{
		{"empty shard", kernels.ErrShape, func(st *kernels.ShardStats) error {
			return kernels.CrossEntropyShard(x[:0], targets, n, kernels.VocabShard{Lo: 3, Hi: 3, V: v}, st, nil)
		}},
		{"shard past V", kernels.ErrShape, func(st *kernels.ShardStats) error {
			return kernels.CrossEntropyShard(x, targets, n, kernels.VocabShard{Lo: 7, Hi: 11, V: v}, st, nil)
		}},
		{"logits length", kernels.ErrLength, func(st *kernels.ShardStats) error {
			return kernels.CrossEntropyShard(x[:5], targets, n, good, st, nil)
		}},
		{"target ≥ V", kernels.ErrTarget, func(st *kernels.ShardStats) error {
			return kernels.CrossEntropyShard(x, []int32{1, 10, 0}, n, good, st, nil)
		}},
		{"weight length K, not V", kernels.ErrLength, func(st *kernels.ShardStats) error {
			return kernels.CrossEntropyShard(x, targets, n, good, st, &kernels.CrossEntropyOptions[float32]{Weight: make([]float32, 4)})
		}},
		{"negative weight", kernels.ErrWeight, func(st *kernels.ShardStats) error {
			w := make([]float32, v)
			w[9] = -1
			return kernels.CrossEntropyShard(x, targets, n, good, st, &kernels.CrossEntropyOptions[float32]{Weight: w})
		}},
		{"stats length", kernels.ErrLength, func(st *kernels.ShardStats) error {
			st.Target = st.Target[:n-1]
			return kernels.CrossEntropyShard(x, targets, n, good, st, nil)
		}},
		{"stats overlap", kernels.ErrOverlap, func(st *kernels.ShardStats) error {
			st.Smooth = st.Sum
			return kernels.CrossEntropyShard(x, targets, n, good, st, nil)
		}},
		{"loss from one shard", kernels.ErrShape, func(st *kernels.ShardStats) error {
			one := kernels.NewShardStats(n)
			if err := kernels.CrossEntropyShard(x, targets, n, good, one, nil); err != nil {
				return err
			}
			_, err := kernels.CrossEntropyShardLoss(one, targets, n, v, &kernels.CrossEntropyOptions[float32]{})
			return err
		}},
		{"grad from one shard", kernels.ErrShape, func(st *kernels.ShardStats) error {
			one := kernels.NewShardStats(n)
			if err := kernels.CrossEntropyShard(x, targets, n, good, one, nil); err != nil {
				return err
			}
			g := make([]float32, len(x))
			err := kernels.CrossEntropyShardGrad(x, targets, n, good, one, g, nil)
			if g[0] != 0 {
				t.Error("grad written")
			}
			return err
		}},
		{"a shard combined twice", kernels.ErrShape, func(st *kernels.ShardStats) error {
			a, b := kernels.NewShardStats(n), kernels.NewShardStats(n)
			big := kernels.VocabShard{Lo: 0, Hi: 6, V: v}
			x6 := make([]float32, n*6)
			if err := kernels.CrossEntropyShard(x6, targets, n, big, a, nil); err != nil {
				return err
			}
			if err := kernels.CrossEntropyShard(x6, targets, n, big, b, nil); err != nil {
				return err
			}
			return a.Combine(b)
		}},
		{"rows differ", kernels.ErrLength, func(st *kernels.ShardStats) error {
			return kernels.NewShardStats(n).Combine(kernels.NewShardStats(n + 1))
		}},
	}
	for _, c := range cases {
		st := fresh()
		err := c.call(st)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
			continue
		}
		if c.name != "stats length" && c.name != "stats overlap" && !untouched(st) {
			t.Errorf("%s: stats written", c.name)
		}
	}
}

// TestShardNoAllocations: no pass allocates, nor does the loss or Combine.
func TestShardNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	n, v := 70, 300
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(i * 4 % v)
	}
	x := make([]float32, n*100)
	g := make([]float32, n*100)
	a, b := kernels.NewShardStats(n), kernels.NewShardStats(n)
	o := &kernels.CrossEntropyOptions[float32]{LabelSmoothing: 0.1, SoftCap: 20, RowLSE: make([]float32, n)}
	lo := kernels.VocabShard{Lo: 0, Hi: 100, V: v}
	hi := kernels.VocabShard{Lo: 100, Hi: 300, V: v}
	x2 := make([]float32, n*200)
	allocs := testing.AllocsPerRun(20, func() {
		_ = kernels.CrossEntropyShard(x, targets, n, lo, a, o)
		_ = kernels.CrossEntropyShard(x2, targets, n, hi, b, o)
		_ = a.Combine(b)
		_, _ = kernels.CrossEntropyShardLoss(a, targets, n, v, o)
		_ = kernels.CrossEntropyShardGrad(x, targets, n, lo, a, g, o)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per sharded step", allocs)
	}
}

// TestShardRunnerDeterministic: both passes spread over a Runner of P = 1,
// 2, 3, 8 goroutines (blocks of a few rows) give stats, loss and gradient
// bit-identical to calls without one.
func TestShardRunnerDeterministic(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(9))
		n, k := 300, 70
		x := make([]float64, n*k)
		for i := range x {
			x[i] = rng.NormFloat64() * 5
		}
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		targets[7] = -100
		cuts := []int{0, 33, 70}
		run := func(r *kernels.Runner) (float64, []float64) {
			o := &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 0.2, SoftCap: 10, Runner: r}
			grad := make([]float64, n*k)
			loss, err := shardtest.CrossEntropy(x, targets, n, k, grad, o, cuts, 0)
			if err != nil {
				t.Fatal(err)
			}
			return loss, grad
		}
		want, wantGrad := run(nil)
		for _, p := range []int{1, 2, 3, 8} {
			r := kernels.NewRunner(p)
			r.SetMinElems(1)
			r.SetBlockElems(200)
			loss, grad := run(r)
			r.Close()
			if loss != want || !slices.Equal(grad, wantGrad) {
				t.Errorf("P=%d: loss %v (without a Runner %v), gradients bit-identical: %v", p, loss, want, slices.Equal(grad, wantGrad))
			}
		}
	})
}

// TestShardCombineIntoFresh: combining every shard into fresh stats gives
// the same bits as combining into the first shard's, and leaves the
// shards' own stats untouched.
func TestShardCombineIntoFresh(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	n, v := 5, 40
	targets := []int32{0, 39, 17, -100, 20}
	o := &kernels.CrossEntropyOptions[float32]{LabelSmoothing: 0.1}
	cuts := []int{0, 13, 20, 40}
	var stats []*kernels.ShardStats
	for i := range len(cuts) - 1 {
		x := make([]float32, n*(cuts[i+1]-cuts[i]))
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		st := kernels.NewShardStats(n)
		if err := kernels.CrossEntropyShard(x, targets, n, kernels.VocabShard{Lo: cuts[i], Hi: cuts[i+1], V: v}, st, o); err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
	}
	first := slices.Clone(stats[0].Max)
	fresh := kernels.NewShardStats(n)
	for _, st := range stats {
		if err := fresh.Combine(st); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(stats[0].Max, first) {
		t.Error("combining into fresh stats changed a shard's stats")
	}
	into := stats[0]
	for _, st := range stats[1:] {
		if err := into.Combine(st); err != nil {
			t.Fatal(err)
		}
	}
	if fresh.V != v || fresh.Classes != v || !slices.Equal(fresh.Max, into.Max) || !slices.Equal(fresh.Sum, into.Sum) ||
		!slices.Equal(fresh.Smooth, into.Smooth) || !slices.Equal(fresh.Target, into.Target) || fresh.SmoothWeight != into.SmoothWeight {
		t.Errorf("fresh %+v, into the first shard %+v", fresh, into)
	}
	a, err := kernels.CrossEntropyShardLoss(fresh, targets, n, v, o)
	b, err2 := kernels.CrossEntropyShardLoss(into, targets, n, v, o)
	if err != nil || err2 != nil || a != b {
		t.Errorf("losses %v, %v (%v, %v)", a, b, err, err2)
	}
}
