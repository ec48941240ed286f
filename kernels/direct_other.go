//go:build !amd64 || purego

package kernels

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// directCE is the direct call of dispatch_amd64.go; other backends take
// the table's entry.
func directCE[T Float](*args.CE[T]) (float64, bool) { return 0, false }
