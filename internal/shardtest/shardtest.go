// Package shardtest runs a CrossEntropy call through the vocabulary-shard
// calls of package kernels, for the tests and the fuzzer that check them
// against the reference of the whole call.
package shardtest

import (
	"slices"

	"github.com/lossfuse/lossfuse/kernels"
)

// CrossEntropy is kernels.CrossEntropy(x, targets, n, k, grad, o) through the shard
// calls, with the classes cut at cuts: each shard's columns copied into a
// buffer of its own, pass 1 per shard, the stats combined (grouping 0:
// left to right, 1: right to left, 2: as ranks would, the maximum first,
// every shard rebased to it, then sums), the loss, pass 2 per shard (in
// place when grad is x), the shards' gradients copied back into grad.
func CrossEntropy[T kernels.Float](x []T, targets []int32, n, k int, grad []T, o *kernels.CrossEntropyOptions[T], cuts []int, grouping int) (T, error) {
	s := len(cuts) - 1
	xs := make([][]T, s)
	stats := make([]*kernels.ShardStats, s)
	for i := range s {
		sh := kernels.VocabShard{Lo: cuts[i], Hi: cuts[i+1], V: k}
		for r := range n {
			xs[i] = append(xs[i], x[r*k+sh.Lo:r*k+sh.Hi]...)
		}
		stats[i] = kernels.NewShardStats(n)
		if err := kernels.CrossEntropyShard(xs[i], targets, n, sh, stats[i], o); err != nil {
			return 0, err
		}
	}
	all := stats[0]
	switch grouping {
	case 0:
		for _, st := range stats[1:] {
			if err := all.Combine(st); err != nil {
				return 0, err
			}
		}
	case 1:
		all = stats[s-1]
		for i := s - 2; i >= 0; i-- {
			if err := stats[i].Combine(all); err != nil {
				return 0, err
			}
			all = stats[i]
		}
	default:
		m := slices.Clone(stats[0].Max)
		for _, st := range stats[1:] {
			for i, v := range st.Max {
				m[i] = max(m[i], v)
			}
		}
		all = kernels.NewShardStats(n)
		all.V = k
		for _, st := range stats {
			if err := st.Rebase(m); err != nil {
				return 0, err
			}
			for i := range n {
				all.Sum[i] += st.Sum[i]
				all.Smooth[i] += st.Smooth[i]
				all.Target[i] += st.Target[i]
			}
			all.Classes += st.Classes
			all.SmoothWeight += st.SmoothWeight
		}
		copy(all.Max, m)
	}
	loss, err := kernels.CrossEntropyShardLoss(all, targets, n, k, o)
	if err != nil || grad == nil {
		return loss, err
	}
	inPlace := &grad[0] == &x[0]
	for i := range s {
		sh := kernels.VocabShard{Lo: cuts[i], Hi: cuts[i+1], V: k}
		g := xs[i]
		if !inPlace {
			g = make([]T, len(xs[i]))
		}
		if err := kernels.CrossEntropyShardGrad(xs[i], targets, n, sh, all, g, o); err != nil {
			return 0, err
		}
		for r := range n {
			copy(grad[r*k+sh.Lo:r*k+sh.Hi], g[r*(sh.Hi-sh.Lo):(r+1)*(sh.Hi-sh.Lo)])
		}
	}
	return loss, nil
}
