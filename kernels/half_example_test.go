package kernels_test

import (
	"fmt"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
)

// Logits kept as bfloat16 bits in a []uint16 (as Go code holds them) are
// widened to float32, and float32 values rounded back.
func ExampleBF16ToFloat32() {
	raw := []uint16{0x3f80, 0xc040, 0x7f80, 0x0001} // 1, −3, +Inf, the least subnormal
	bf := unsafe.Slice((*kernels.BF16)(unsafe.Pointer(&raw[0])), len(raw))
	f := make([]float32, len(bf))
	if err := kernels.BF16ToFloat32(f, bf); err != nil {
		panic(err)
	}
	fmt.Println(f)

	back := make([]kernels.BF16, 3)
	_ = kernels.Float32ToBF16(back, []float32{1.00390625, 1.01171875, 3.4e38}) // two ties to even, overflow
	fmt.Printf("%#04x\n", back)
	fmt.Println(kernels.F16FromFloat32(65519).Float32(), kernels.F16FromFloat32(65520).Float32())
	// Output:
	// [1 -3 +Inf 9.1835e-41]
	// [0x3f80 0x3f82 0x7f80]
	// 65504 +Inf
}

// Cross-entropy on bfloat16 logits with the gradient written over them in
// place, as a training step on a bf16 logits tensor does.
func ExampleCrossEntropyHalf() {
	logits := []kernels.BF16{
		kernels.BF16FromFloat32(2), kernels.BF16FromFloat32(1), kernels.BF16FromFloat32(0.1),
		kernels.BF16FromFloat32(0.5), kernels.BF16FromFloat32(2.5), kernels.BF16FromFloat32(0.3),
	}
	targets := []int32{0, 1}
	loss, err := kernels.CrossEntropyHalf(logits, targets, 2, 3, logits, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f\n", loss)
	for _, g := range logits {
		fmt.Printf("%.4f ", g.Float32())
	}
	fmt.Println()
	// Output:
	// loss 0.3186
	// -0.1709 0.1211 0.0493 0.0542 -0.0986 0.0444
}
