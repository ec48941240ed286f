package generic

import (
	"math"
	"math/big"
)

// Table-driven exp and log in pure Go. The standard library's are accurate
// but slow for a loss kernel: math.Log1p is pure Go with a division and
// several branches, and math.Exp and math.Log are calls that the loop
// cannot overlap. These take one table lookup and a short polynomial, no
// division and no branch on the common path, so that the compiler inlines
// them and the CPU overlaps neighbouring elements. Arguments off the fast
// range (non-finite, overflowing, subnormal) go to the math package, so the
// special values are exactly the standard library's.
//
// Accuracy (TestFastMathULP, against the math package, itself within 1 ULP):
// exp and log within 2 ULP, log1p within 3 ULP, in float64. The assembly
// backends' float64 exp is allowed 2 ULP (docs/amd64.md), and float32
// results round the float64 ones once.

// exp: x = (64n + j)·ln2/64 + r with |r| ≤ ln2/128, so that
// eˣ = 2ⁿ·2^(j/64)·eʳ. eʳ − 1 is its Taylor series for
// |r| ≤ 0.0055 (six terms, so that the truncation stays below 2⁻⁶⁰), and adding it to
// the table value last keeps the result within one rounding of the table's.
const (
	expShift   = 0x1.8p52 // x + expShift rounds x to an integer in the low bits
	expInvLn2  = 64 / math.Ln2
	expMinFast = -707 // 2ⁿ is a normal number above this
	expMaxFast = 709  // and the result finite below this
)

// ln 2/64 in two parts: expLn2Hi has its low 32 bits clear, so n·expLn2Hi
// is exact for |n| ≤ 2¹⁷ (|x| < 710 needs |n| < 65536).
var (
	expLn2Hi = math.Float64frombits(math.Float64bits(math.Ln2/64) &^ (1<<32 - 1))
	expLn2Lo = (math.Ln2/64 - expLn2Hi) + 2.319046813846299558e-17/64 // ln 2 − math.Ln2 as in ln2Lo
)

// expEdge is eˣ outside the fast range. On amd64 math.Exp returns +Inf
// from about 709.7 on (its 2ⁿ step overflows at n = 1024), short of the
// true threshold ln(MaxFloat64) ≈ 709.7827: e^(x−1)·e is finite there.
func expEdge(x float64) float64 {
	r := math.Exp(x)
	if math.IsInf(r, 1) && x < 710 {
		return math.Exp(x-1) * math.E
	}
	return r
}

// expTab[j] is 2^(j/64), correctly rounded (set up by init from math/big).
var expTab [64]float64

// expFast is eˣ.
func expFast(x float64) float64 {
	if !(x > expMinFast && x < expMaxFast) { // NaN too
		return expEdge(x)
	}
	kf := x*expInvLn2 + expShift
	n := int64(math.Float64bits(kf) - math.Float64bits(expShift))
	kf -= expShift
	r := (x - kf*expLn2Hi) - kf*expLn2Lo
	r2 := r * r // Estrin's scheme, as logTail
	s := r + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)+r2*(1.0/720)))
	t := expTab[n&63]
	return (t + t*s) * math.Float64frombits(uint64(n>>6+1023)<<52)
}

// expInto writes dst[i] = e^src[i] (dst may be src). It is expFast with
// the body in the loop: an exp is one long dependent chain, and a loop of
// them without calls lets the CPU run several elements' chains at once.
func expInto(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		if !(x > expMinFast && x < expMaxFast) {
			dst[i] = expEdge(x)
			continue
		}
		kf := x*expInvLn2 + expShift
		n := int64(math.Float64bits(kf) - math.Float64bits(expShift))
		kf -= expShift
		r := (x - kf*expLn2Hi) - kf*expLn2Lo
		r2 := r * r // Estrin's scheme, as logTail
		s := r + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)+r2*(1.0/720)))
		t := expTab[n&63]
		dst[i] = (t + t*s) * math.Float64frombits(uint64(n>>6+1023)<<52)
	}
}

// log: x = 2ᵏ·m with m in [1 − 75.5/256, 1 + 52.5/128), split into 128 bins
// of 2⁻⁸ below 1 and 2⁻⁷ above; in bin i, m = cᵢ·(1 + r) with
// r = (m − cᵢ)·(1/cᵢ), |r| < 2⁻⁸, m − cᵢ exact (Sterbenz) and c = 1 in the
// bin around 1, so that log x near 1 is the polynomial alone. Seven terms
// of log(1 + r) leave a truncation below 2⁻⁵⁹ of r.
const (
	logBins = 128
	// logOff centres 1.0 in bin 75: bits(x) − logOff holds k in its
	// exponent field and the bin in its top 7 significand bits.
	logOff = 0x3FF0000000000000 - 75<<45 - 1<<44
)

var logTab [logBins]struct{ c, invc, logc float64 }

// logBin splits a positive normal u as logTail takes it: k as a float, log cᵢ
// and r, plus invc·2⁻ᵏ, which turns a small addend d of u into log(1 + d/u)
// ≈ d·invc·2⁻ᵏ (log1p's rounding term). Every log form shares it.
func logBin(u float64) (kf, logc, r, dScale float64) {
	tmp := math.Float64bits(u) - logOff
	k := int64(tmp) >> 52
	e := &logTab[(tmp>>45)%logBins]
	m := math.Float64frombits(math.Float64bits(u) - uint64(k)<<52)
	return float64(k), e.logc, (m - e.c) * e.invc, e.invc * math.Float64frombits(uint64(1023-k)<<52)
}

// logFast is log x.
func logFast(x float64) float64 {
	if !(x >= 0x1p-1022 && x <= math.MaxFloat64) { // 0, subnormal, negative, ±Inf, NaN
		return logSub(x)
	}
	kf, logc, r, _ := logBin(x)
	return logTail(kf, logc, r)
}

// logTail is k·ln2 + log cᵢ + log(1 + r).
func logTail(kf, logc, r float64) float64 {
	// Estrin's scheme: three independent pairs, so that the chain is short.
	r2 := r * r
	r4 := r2 * r2
	q := r2 * ((-1.0/2 + r*(1.0/3)) + r2*(-1.0/4+r*(1.0/5)) + r4*(-1.0/6+r*(1.0/7)))
	return (kf*ln2Hi + logc) + (r + (kf*ln2Lo + q))
}

// log1pFast is log(1 + x). With u = 1 + x rounded,
// log(1 + x) = log u + log(1 + d/u) ≈ log u + d/u, where d = x − (u − 1) is
// what the rounding dropped (|d| ≤ 2⁻⁵³·u, so d/u is needed only roughly:
// d·(1/cᵢ) is within 2⁻⁸ of it). Below −½, u is exact (Sterbenz) and d = 0.
func log1pFast(x float64) float64 {
	u := 1 + x
	if !(x > -1 && u <= math.MaxFloat64) || x == 0 { // and ±0 keeps its sign
		return math.Log1p(x)
	}
	d := x - (u - 1)
	kf, logc, r, ds := logBin(u)
	return logTail(kf, logc, r) + d*ds
}

// logInto writes dst[i] = log src[i] (dst may be src): logFast with the
// body in the loop, as expInto.
func logInto(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		if !(x >= 0x1p-1022 && x <= math.MaxFloat64) {
			dst[i] = logSub(x)
			continue
		}
		kf, logc, r, _ := logBin(x)
		dst[i] = logTail(kf, logc, r)
	}
}

// log1pInto writes dst[i] = log(1 + src[i]) (dst may be src): log1pFast
// with the body in the loop, as expInto.
func log1pInto(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		u := 1 + x
		if !(x > -1 && u <= math.MaxFloat64) || x == 0 {
			dst[i] = math.Log1p(x)
			continue
		}
		d := x - (u - 1)
		kf, logc, r, ds := logBin(u)
		dst[i] = logTail(kf, logc, r) + d*ds
	}
}

func init() {
	// 2^(j/64) as the 64th root of 2ʲ: six correctly rounded square roots
	// at 200 bits, then one rounding to float64.
	for j := range expTab {
		v := new(big.Float).SetPrec(200).SetMantExp(big.NewFloat(1), j)
		for range 6 {
			v.Sqrt(v)
		}
		expTab[j], _ = v.Float64()
	}
	for i := range logTab {
		lo := math.Float64frombits(logOff + uint64(i)<<45)
		hi := math.Float64frombits(logOff + uint64(i+1)<<45)
		// The bin's centre with 16 significant bits; 1 in the bin holding 1.
		c := (lo + hi) / 2
		c = math.Ldexp(math.Round(math.Ldexp(c, 15)), -15)
		if lo <= 1 && 1 < hi {
			c = 1
		}
		logTab[i].c, logTab[i].invc = c, 1/c
		logTab[i].logc = math.Log1p(c - 1) // c − 1 is exact
		if c > 1.25 {
			logTab[i].logc = math.Log(c)
		}
	}
}
