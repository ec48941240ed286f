package generic

import "github.com/lossfuse/lossfuse/kernels/internal/args"

func Softmax[T args.Float](a args.Rows[T])           { panic("unimplemented") }
func LogSoftmax[T args.Float](a args.Rows[T])        { panic("unimplemented") }
func LogSumExp[T args.Float](a args.Rows[T])         { panic("unimplemented") }
func Sigmoid[T args.Float](a args.Elementwise[T])    { panic("unimplemented") }
func LogSigmoid[T args.Float](a args.Elementwise[T]) { panic("unimplemented") }
func Softplus[T args.Float](a args.Elementwise[T])   { panic("unimplemented") }
