package amd64

import "testing"

func BenchmarkTmpSmallRow(b *testing.B) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	g := make([]float32, 10)
	t := []int32{3}
	for i := 0; i < b.N; i++ {
		ceSmallRowsGAVX2(&x[0], &g[0], 1, 10, &t[0], nil, -1<<62, nil, nil, 1)
	}
}
func BenchmarkTmpSmallRow4(b *testing.B) {
	x := make([]float32, 40)
	g := make([]float32, 40)
	t := []int32{3, 1, 2, 4}
	for i := 0; i < b.N; i++ {
		ceSmallRowsGAVX2(&x[0], &g[0], 4, 10, &t[0], nil, -1<<62, nil, nil, 1)
	}
}
func BenchmarkTmpSmallRowZ(b *testing.B) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	g := make([]float32, 10)
	t := []int32{3}
	for i := 0; i < b.N; i++ {
		ceSmallRowsGAVX512(&x[0], &g[0], 1, 10, &t[0], nil, -1<<62, nil, nil, 1)
	}
}
func BenchmarkTmpSmallRowZ4(b *testing.B) {
	x := make([]float32, 40)
	g := make([]float32, 40)
	t := []int32{3, 1, 2, 4}
	for i := 0; i < b.N; i++ {
		ceSmallRowsGAVX512(&x[0], &g[0], 4, 10, &t[0], nil, -1<<62, nil, nil, 1)
	}
}
