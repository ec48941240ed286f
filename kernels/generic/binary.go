package generic

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// Binary computes the element-wise binary losses. TODO(core): fill in.
func Binary[T args.Float](a args.Binary[T]) float64 { panic("unimplemented") }
