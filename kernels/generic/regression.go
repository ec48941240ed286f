package generic

import "github.com/lossfuse/lossfuse/kernels/internal/args"

func Regression[T args.Float](a args.Regression[T]) float64 { panic("unimplemented") }
