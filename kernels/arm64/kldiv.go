//go:build arm64 && !purego

package arm64

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// klDiv is kl_div (args.KLDiv: targets p; args.KLDivLogTarget: targets
// t = log p), one generated kernel per target form and type
// (asmgen/cmd/neongen/kldiv.go). With both outputs present it is one call;
// otherwise the absent ones are written to stack scratch, chunk elements a
// call, so nothing is allocated. Grad may be X: each vector is read
// before it is written.
func klDiv[T args.Float](a args.Regression[T]) float64 {
	if len(a.X) == 0 {
		return 0
	}
	log := a.Kind == args.KLDivLogTarget
	if is32[T]() {
		args.TookIf(log, "neon/f32/kldiv-log-target", "neon/f32/kldiv")
		return klDiv32(as32(a.Grad), as32(a.Loss), as32(a.X), as32(a.Y), float32(a.GradScale), log)
	}
	args.TookIf(log, "neon/f64/kldiv-log-target", "neon/f64/kldiv")
	return klDiv64(as64(a.Grad), as64(a.Loss), as64(a.X), as64(a.Y), float64(a.GradScale), log)
}

func klDiv32(grad, loss, x, y []float32, scale float32, log bool) float64 {
	y = y[:len(x)]
	if len(grad) != 0 && len(loss) != 0 {
		if log {
			return klDivLogF32(grad[:len(x)], loss[:len(x)], x, y, scale)
		}
		return klDivF32(grad[:len(x)], loss[:len(x)], x, y, scale)
	}
	var gs, ls [chunk]float32
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		g, l := gs[:end-start], ls[:end-start]
		if len(grad) != 0 {
			g = grad[start:end]
		}
		if len(loss) != 0 {
			l = loss[start:end]
		}
		// Direct calls: through a func value the stack buffers would escape.
		if log {
			sum += klDivLogF32(g, l, x[start:end], y[start:end], scale)
		} else {
			sum += klDivF32(g, l, x[start:end], y[start:end], scale)
		}
	}
	return sum
}

func klDiv64(grad, loss, x, y []float64, scale float64, log bool) float64 {
	y = y[:len(x)]
	if len(grad) != 0 && len(loss) != 0 {
		if log {
			return klDivLogF64(grad[:len(x)], loss[:len(x)], x, y, scale)
		}
		return klDivF64(grad[:len(x)], loss[:len(x)], x, y, scale)
	}
	var gs, ls [chunk]float64
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		g, l := gs[:end-start], ls[:end-start]
		if len(grad) != 0 {
			g = grad[start:end]
		}
		if len(loss) != 0 {
			l = loss[start:end]
		}
		if log {
			sum += klDivLogF64(g, l, x[start:end], y[start:end], scale)
		} else {
			sum += klDivF64(g, l, x[start:end], y[start:end], scale)
		}
	}
	return sum
}
