package fuzz

import "slices"

// decodeCuts draws 1 to 5 vocabulary shards of k classes: their
// boundaries 0 = c₀ < c₁ < … < c_S = k.
func decodeCuts(s *source, k int) []int {
	shards := 1 + s.intn("shards", 5)
	cuts := []int{0, k}
	for range shards - 1 {
		if k < 2 {
			break
		}
		c := 1 + s.intn("cut", 1<<16)%(k-1)
		if !slices.Contains(cuts, c) {
			cuts = append(cuts, c)
		}
	}
	slices.Sort(cuts)
	return cuts
}
