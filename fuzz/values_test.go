package fuzz

import (
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
)

// How an array's elements are drawn. Plain arrays exercise ordinary
// numerics; the others put weight on the values where kernels break.
const (
	modePlain        = iota // moderate values at one scale
	modeSprinkled           // moderate, with a special value now and then
	modeWild                // specials, moderate values and raw bit patterns alike
	modeConst               // one value (of any kind) repeated
	modeGenPlain            // plain, from a generator seeded by one byte
	modeGenSprinkled        // sprinkled, from a generator seeded by one byte
	numModes
)

// dist describes the values one kind of array holds.
type dist struct {
	name string
	// specials lists the edge values, as float64 for the widest type; each
	// is converted to the element type (so MaxFloat64 becomes +Inf in float32).
	specials32, specials64 []float64
	scales                 []float64
	// moderate maps two bytes u and a scale to an ordinary value; u = 0 gives
	// the distribution's plainest value.
	moderate func(u uint16, scale float64) float64
	// nonNegative clears the sign of raw bit patterns (weights must not be
	// negative except when a fault says so).
	nonNegative bool
	// unit folds raw bit patterns into [0, 1]: |v|, or 1/|v| above 1.
	unit bool
}

func (d *dist) specials(size uintptr) []float64 {
	if size == 4 {
		return d.specials32
	}
	return d.specials64
}

// specialReals are the edge values of the real line for a type with the
// given largest value, smallest normal and smallest subnormal, and the
// exponent where exp overflows.
func specialReals(maxv, minNormal, minSub, expMax float64) []float64 {
	v := []float64{
		0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
		minSub, -minSub, minNormal - minSub, -(minNormal - minSub), minNormal, -minNormal,
		1e4, -1e4, 88, -88, 89, -89, expMax, -expMax, 710, -710, 745, -745, 17, -17, 37, -37,
		maxv, -maxv, maxv / 2, -maxv / 2, 1, -1, 0.5, -0.5, 1e-8, -1e-8, 1e-30, -1e-30, 3.4e38, 1e300, -1e300,
	}
	return v
}

// specialProbs are the edge values of a probability or binary target.
func specialProbs(eps, minSub float64) []float64 {
	return []float64{
		0, 1, 0.5, math.Copysign(0, -1), minSub, 1 - eps/2, eps / 2, 1e-12, 1 - 1e-12, 1e-7, 1 - 1e-7,
		1e-45, 1e-300, 0.25, 0.75, math.NaN(), math.Nextafter(1, 0), math.Nextafter(0, 1), 0.1, 0.9,
		math.Exp(-100), math.Exp(-101),
	}
}

// outOfDomain are values a probability or binary target should not hold.
// The kernels do not check (PyTorch's BCE does), so the fuzzer feeds them
// now and then to check memory safety and error decisions, but compares
// no values there: the API documents y, p ∈ [0, 1] and nothing outside.
var outOfDomain = []float64{math.Inf(1), math.Inf(-1), -0.5, 1.5, 2, -1, 1e4, -1e-30, 1 + 1e-7}

// inDomain reports whether every element is a probability (or NaN).
func inDomain[T kernels.Float](s []T) bool {
	for _, v := range s {
		if v < 0 || v > 1 {
			return false
		}
	}
	return true
}

// specialWeights are valid (non-negative or NaN) weights: −0 is not negative.
func specialWeights(maxv, minSub float64) []float64 {
	return []float64{
		0, math.Copysign(0, -1), 1, 0.5, 2, minSub, maxv, math.Inf(1), math.NaN(), 1e-30, 1e4, 1e-8, 3, 0.1,
	}
}

func signedModerate(u uint16, scale float64) float64 { return float64(int16(u)) / 32768 * scale }
func unsignedModerate(u uint16, scale float64) float64 {
	return float64(u) / 65535 * scale
}

// probModerate shapes a uniform value in [0, 1]: the scale selects the
// identity, a push towards 0, a push towards 1, or a hard 0/1 label.
func probModerate(u uint16, scale float64) float64 {
	t := float64(u) / 65535
	switch scale {
	case 1:
		return t
	case 2:
		return math.Pow(t, 8)
	case 3:
		return 1 - math.Pow(t, 8)
	default:
		if u&1 == 1 {
			return 1
		}
		return 0
	}
}

var (
	f32max, f32norm, f32sub = math.MaxFloat32, 0x1p-126, math.SmallestNonzeroFloat32
	f64max, f64norm, f64sub = math.MaxFloat64, 0x1p-1022, math.SmallestNonzeroFloat64

	// realDist is for logits and regression values.
	realDist = &dist{
		name:       "real",
		specials32: specialReals(f32max, f32norm, f32sub, 88.72283935546875),
		specials64: specialReals(f64max, f64norm, f64sub, 709.782712893384),
		scales:     []float64{4, 1, 16, 100, 1e4, 1e-3},
		moderate:   signedModerate,
	}
	probDist = &dist{
		name:       "prob",
		specials32: specialProbs(0x1p-23, f32sub),
		specials64: specialProbs(0x1p-52, f64sub),
		scales:     []float64{1, 4, 2, 3},
		moderate:   probModerate,
		unit:       true,
	}
	// probAnyDist adds the values outside [0, 1] (see outOfDomain).
	probAnyDist = &dist{
		name:       "prob+",
		specials32: append(specialProbs(0x1p-23, f32sub), outOfDomain...),
		specials64: append(specialProbs(0x1p-52, f64sub), outOfDomain...),
		scales:     []float64{1, 4, 2, 3},
		moderate:   probModerate,
	}
	weightDist = &dist{
		name:        "weight",
		specials32:  specialWeights(f32max, f32sub),
		specials64:  specialWeights(f64max, f64sub),
		scales:      []float64{1, 2, 10, 1e-3, 1e4},
		moderate:    unsignedModerate,
		nonNegative: true,
	}
)

// Class bytes of one element: in wild mode a moderate value below wildSpecial,
// a special one below wildRaw, raw bits above; in sprinkled mode a moderate
// value below sprinkledModerate, a special one above. A special value's
// index is the next byte.
const (
	wildSpecial, wildRaw = 96, 208
	sprinkledModerate    = 240
)

// floats decodes n elements of type T from d. Labels name the decisions so
// that a seed script can set them: label+".mode", label+".scale", label+".seed"
// and label for each element. The generated modes give a large array from
// two bytes, for the fuzzer and for seeds alike.
func floats[T kernels.Float](s *source, label string, d *dist, n int) []T {
	var zero T
	size := unsafe.Sizeof(zero)
	specials := d.specials(size)
	mode := s.intn(label+".mode", numModes)
	scale := d.scales[s.intn(label+".scale", len(d.scales))]
	src := s
	if mode == modeGenPlain || mode == modeGenSprinkled {
		src = generator(s.intn(label+".seed", 256), label)
		mode -= modeGenPlain - modePlain
	}
	out := make([]T, n)
	if n == 0 {
		return out
	}
	if src.script != nil {
		if mode != modeWild && mode != modeConst {
			panic(fmt.Sprintf("seed script: %s.mode must be wild, const or generated", label))
		}
		for i := range out {
			if mode == modeConst && i > 0 {
				out[i] = out[0]
				continue
			}
			out[i] = encodeWild[T](s, T(s.script.Float(label)), specials)
		}
		return out
	}
	for i := range out {
		if mode == modeConst && i > 0 {
			out[i] = out[0]
			continue
		}
		c := src.next(true)
		switch {
		case mode == modePlain,
			mode == modeSprinkled && c < sprinkledModerate,
			(mode == modeWild || mode == modeConst) && c < wildSpecial:
			u := uint16(src.next(true)) | uint16(src.next(true))<<8
			if mode == modePlain {
				// The class byte was not needed: fold it into the value so
				// that plain arrays still vary with every byte.
				u ^= uint16(c)
			}
			out[i] = T(d.moderate(u, scale))
		case mode == modeSprinkled || c < wildRaw:
			out[i] = T(specials[int(src.next(true))%len(specials)])
		default:
			b := src.rawBits(int(size))
			if d.nonNegative || d.unit {
				b &^= 1 << (8*size - 1)
			}
			v := fromBits[T](b)
			if d.unit && v > 1 {
				v = 1 / v
			}
			out[i] = v
		}
	}
	return out
}

// generator returns a source of pseudo-random bytes only, seeded by one
// decision and the array's label (so that two arrays with the same seed
// byte still differ).
func generator(seed int, label string) *source {
	g := newSource([]byte(label))
	g.rng += uint64(seed) * 0x9e3779b97f4a7c15
	return g
}

// encodeWild appends the bytes that decode to v in wild mode: a special
// value's index when v is one, its raw bits otherwise.
func encodeWild[T kernels.Float](s *source, v T, specials []float64) T {
	for i, sp := range specials {
		if sameBits(T(sp), v) {
			s.out = append(s.out, wildSpecial, byte(i))
			return v
		}
	}
	s.out = append(s.out, wildRaw)
	s.emitBits(toBits(v), int(unsafe.Sizeof(v)))
	return v
}

func fromBits[T kernels.Float](b uint64) T {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return T(math.Float32frombits(uint32(b)))
	}
	return T(math.Float64frombits(b))
}

func toBits[T kernels.Float](v T) uint64 {
	if unsafe.Sizeof(v) == 4 {
		return uint64(math.Float32bits(float32(v)))
	}
	return math.Float64bits(float64(v))
}

// sameBits compares two values bit for bit (so NaN equals the same NaN and
// +0 differs from −0).
func sameBits[T kernels.Float](a, b T) bool { return toBits(a) == toBits(b) }

func widen[T kernels.Float](s []T) []float64 {
	if s == nil {
		return nil
	}
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func nan() float64         { return math.NaN() }
func inf(sign int) float64 { return math.Inf(sign) }

// fullOptions keeps scalar options exactly as drawn. The kernels convert
// each float64 option to T once, so for float32 an option loses precision
// (1−ε for ε = 0.999 is 1.3e-5 off) or worse: SoftCap = 1e300 becomes +Inf
// and Clip = 1e-50 becomes 0, switching clipping off, while the reference
// computes with the value given. Until that is settled (docs/fuzzing.md,
// findings), cases draw options that T represents exactly: the value
// rounded to T, or the table's first value where T has none; set
// LOSSFUSE_FUZZ_FULL_OPTIONS=1 to draw them unrounded.
var fullOptions = os.Getenv("LOSSFUSE_FUZZ_FULL_OPTIONS") != ""

// option draws a scalar option from table (see fullOptions).
func option[T kernels.Float](s *source, label string, table []float64) float64 {
	v := s.pickF(label, table)
	if fullOptions {
		return v
	}
	t := float64(T(v))
	if math.IsInf(t, 0) || t == 0 && v != 0 {
		return table[0]
	}
	return t
}
