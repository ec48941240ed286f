package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// The primitives' backward passes and Softplus with PyTorch's β and
// threshold. Each reads what PyTorch saves from the forward (y or x) and
// dy, and writes dx, which may be either of them (every kernel reads an
// element of both before it writes that element's dx).

// backwardKernels emits the backward passes and softplusBeta for s.
func backwardKernels(s *x86.ISA) {
	softplusBeta(s)
	sigmoidBackward(s)
	sigmoidGradBeta(s)
	softmaxBackwardRows(s)
	logSoftmaxBackwardRows(s)
	lseBackwardRows(s)
}

// floorUnderflow raises v = f(t) ≥ 0 to the smallest subnormal where t is
// finite (or +Inf) and v underflowed to 0: exp and σ of a finite argument
// are positive, and a factor of exactly 0 would turn dy = ±Inf into NaN
// where the product is ±Inf. The change is below the smallest subnormal
// times dy, inside the contract.
func floorUnderflow(s *x86.ISA, t, v reg.VecVirtual) {
	least := 0x1p-149
	if s.F64 {
		least = 0x1p-1074
	}
	m := s.Vec()
	s.Max(s.C(least), v, m) // v is finite where it is taken
	s.Where(x86.GE, t, s.C(-s.MaxFinite()), m, v)
}

// paramAddr is the frame address of a scalar parameter, for a broadcast.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// gradLoop emits a function over n elements of x, dy and dx calling body
// with the vectors of x and dy; the tail is masked. Scalar parameters
// follow n in sig.
func gradLoop(s *x86.ISA, name, sig, doc string, consts []float32, setup func(), body func(x, dy reg.VecVirtual) reg.VecVirtual) {
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, doc)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dy := Load(Param("dy"), GP64()).(reg.GPVirtual)
	dx := Load(Param("dx"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	if !s.F64 {
		s.Preload(consts...)
	}
	if setup != nil {
		setup()
	}
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(x, j), nil)
		g := s.LoadAt(mk, s.At(dy, j), nil)
		s.StoreAt(mk, body(v, g), s.At(dx, j))
	})
	s.End()
}

// sigmoidBackward emits dx = dy·((1 − y)·y), PyTorch's product: 1 − y is
// exact for y ≥ ½, where y − y² would cancel, and y = ±Inf gives −Inf as
// the formula does (an FMA's y − y² would give NaN).
func sigmoidBackward(s *x86.ISA) {
	gradLoop(s, "sigmoidBackward"+suffix(s), "func(x, dy, dx *float32, n int)",
		"%s writes dx[i] = dy[i]·x[i]·(1 − x[i]) for i < n (x: the sigmoid's output); dx may be x or dy.",
		nil, nil, func(y, g reg.VecVirtual) reg.VecVirtual {
			t := s.Vec()
			s.Mov(s.C(1), t)
			s.Sub(y, t, t) // 1 − y
			s.Mul(y, t, t)
			s.Mul(g, t, t)
			return t
		})
}

// sigmoidGradBeta emits dx = dy·σ(βx), or dy where βx > thr: the backward
// pass of Softplus (β, threshold) and, with β = −1 and thr = +Inf, of
// LogSigmoid. βx is rounded to T before σ and the comparison, as in PyTorch.
func sigmoidGradBeta(s *x86.ISA) {
	var beta, thr reg.VecVirtual
	gradLoop(s, "sigmoidGradBeta"+suffix(s), "func(x, dy, dx *float32, n int, beta, thr float32)",
		"%s writes dx[i] = dy[i]·σ(beta·x[i]), or dy[i] where beta·x[i] > thr, for i < n; dx may be x or dy.",
		x86.ExpConsts(), func() {
			beta, thr = s.Broadcast(paramAddr("beta")), s.Broadcast(paramAddr("thr"))
		}, func(v, g reg.VecVirtual) reg.VecVirtual {
			t := s.Vec()
			s.Mul(beta, v, t)
			_, sp, _, _ := sigmoidParts(s, t, false)
			floorUnderflow(s, t, sp)
			s.Mul(g, sp, sp)
			s.Where(x86.GT, t, thr, g, sp)
			return sp
		})
}

// softplusBeta emits PyTorch's softplus: (max(t, 0) + log1p(exp(−|t|)))/β
// with t = βx, or x where t > thr. The division keeps PyTorch's rounding
// of 1/β out of the result.
func softplusBeta(s *x86.ISA) {
	name := "softplusBeta" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(x, dst *float32, n int, beta, thr float32)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i] = log1p(exp(beta·x[i]))/beta, or x[i] where beta·x[i] > thr, for i < n; dst may be x.")
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	if !s.F64 {
		s.Preload(append(x86.ExpConsts(), x86.LogConsts()...)...)
	}
	beta, thr := s.Broadcast(paramAddr("beta")), s.Broadcast(paramAddr("thr"))
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(x, j), nil)
		t := s.Vec()
		s.Mul(beta, v, t)
		na := s.Vec()
		s.Op(VORPS, s.SignBit(), t, na) // −|t|
		l := s.Log1pUnit(s.Exp(na))
		r := s.Vec()
		s.Max(t, s.CR(0), r) // NaN: t is the operand returned
		s.Add(l, r, r)
		s.Div(beta, r, r)
		s.Where(x86.GT, t, thr, v, r)
		s.StoreAt(mk, r, s.At(dst, j))
	})
	s.End()
}

// rowsGradLoad loads the arguments of a row-wise backward pass.
func rowsGradLoad(s *x86.ISA, name, sig, doc string) (x, dy, dx, n, k reg.GPVirtual) {
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, doc)
	s.Begin()
	x = Load(Param("x"), GP64()).(reg.GPVirtual)
	dy = Load(Param("dy"), GP64()).(reg.GPVirtual)
	dx = Load(Param("dx"), GP64()).(reg.GPVirtual)
	n = Load(Param("n"), GP64()).(reg.GPVirtual)
	k = Load(Param("k"), GP64()).(reg.GPVirtual)
	return
}

// softmaxBackwardRows emits dx = y·(dy − Σ y·dy) per row: the dot product
// in a two-level BlockSum (float32 lanes flushed to float64, as the
// softmax sums), then dx = (dy − s)·y.
func softmaxBackwardRows(s *x86.ISA) {
	y, dy, dx, n, k := rowsGradLoad(s, "softmaxBackwardRows"+suffix(s), "func(x, dy, dx *float32, n, k int)",
		"%s writes dx[i*k+j] = x[i*k+j]·(dy[i*k+j] − Σ_l x[i*k+l]·dy[i*k+l]) for n rows of k (x: the softmax); dx may be x or dy.")
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{y, dy, dx}, func(reg.GPVirtual) {
		bs := s.NewBlockSum()
		sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
			bs.AddProduct(s.LoadAt(mk, s.At(y, j), nil), s.LoadAt(mk, s.At(dy, j), nil))
		}, bs.Flush)
		dot := bs.Total(nil)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			g := s.LoadAt(mk, s.At(dy, j), nil)
			s.Sub(dot, g, g)
			s.Mul(s.LoadAt(mk, s.At(y, j), nil), g, g)
			s.StoreAt(mk, g, s.At(dx, j))
		})
	})
	s.End()
}

// logSoftmaxBackwardRows emits dx = dy − exp(y)·Σ dy per row.
func logSoftmaxBackwardRows(s *x86.ISA) {
	y, dy, dx, n, k := rowsGradLoad(s, "logSoftmaxBackwardRows"+suffix(s), "func(x, dy, dx *float32, n, k int)",
		"%s writes dx[i*k+j] = dy[i*k+j] − exp(x[i*k+j])·Σ_l dy[i*k+l] for n rows of k (x: the log-softmax); dx may be x or dy.")
	s.PreloadExp()
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{y, dy, dx}, func(reg.GPVirtual) {
		bs := s.NewBlockSum()
		sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
			bs.Add(s.LoadAt(mk, s.At(dy, j), nil))
		}, bs.Flush)
		sum := bs.Total(nil)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			yv := s.LoadAt(mk, s.At(y, j), nil)
			e := s.Exp(yv)
			floorUnderflow(s, yv, e)
			g := s.LoadAt(mk, s.At(dy, j), nil)
			s.FNMA231(e, sum, g)
			s.StoreAt(mk, g, s.At(dx, j))
		})
	})
	s.End()
}

// lseBackwardRows emits dx_ij = dy_i·exp(x_ij − lse_i).
func lseBackwardRows(s *x86.ISA) {
	name := "lseBackwardRows" + suffix(s)
	x, dy, dx, n, k := rowsGradLoad(s, name, "func(x, dy, dx *float32, n, k int, lse *float32)",
		"%s writes dx[i*k+j] = dy[i]·exp(x[i*k+j] − lse[i]) for n rows of k; dx may be x.")
	lse := Load(Param("lse"), GP64()).(reg.GPVirtual)
	s.PreloadExp()
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, dx}, func(i reg.GPVirtual) {
		g := s.Broadcast(Mem{Base: dy, Index: i, Scale: sz})
		l := s.Broadcast(Mem{Base: lse, Index: i, Scale: sz})
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			v := s.LoadAt(mk, s.At(x, j), nil)
			s.Sub(l, v, v)
			e := s.Exp(v)
			floorUnderflow(s, v, e)
			s.Mul(g, e, e)
			s.StoreAt(mk, e, s.At(dx, j))
		})
	})
	s.End()
}
