package fuzz

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
)

// source turns the fuzzer's bytes into decisions. Every byte string decodes
// to some case: running out of bytes gives 0 for structural choices (so the
// shortest inputs are the plain cases) and pseudo-random bytes for element
// data (so a large K still gets varied rows from a short input).
//
// A source can also run the other way, as the seed encoder: with a script
// it asks the script for each decision and appends the bytes that decode to
// it, so a seed written as "K=17, every logit 1e4" becomes a corpus entry.
type source struct {
	data []byte
	pos  int
	rng  uint64 // splitmix64 state for element bytes past the end

	script script   // non-nil: encoding a seed
	out    []byte   // the bytes encoded so far (script mode)
	trace  []uint64 // every decision taken, to check the encoder against the decoder
}

// script decides a seed's values: Int the wanted value of a labelled choice
// (an index for intn, a table value for pick), Float the wanted value of a
// labelled float option or array element.
type script interface {
	Int(label string) int
	Float(label string) float64
}

func newSource(data []byte) *source {
	h := fnv.New64a()
	h.Write(data)
	return &source{data: data, rng: h.Sum64()}
}

func newScript(sc script) *source { return &source{script: sc} }

// next returns the next input byte; past the end it returns 0, or a
// pseudo-random byte when random is set.
func (s *source) next(random bool) byte {
	if s.pos < len(s.data) {
		b := s.data[s.pos]
		s.pos++
		return b
	}
	if !random {
		return 0
	}
	s.rng += 0x9e3779b97f4a7c15
	z := s.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return byte(z ^ z>>31)
}

// intn returns a decision in [0, n), n ≤ 65536: one byte when n ≤ 256, two
// otherwise. A script gives the decision itself.
func (s *source) intn(label string, n int) int {
	if s.script != nil {
		return s.record(label, n, s.script.Int(label))
	}
	b := int(s.next(false))
	if n > 256 {
		b |= int(s.next(false)) << 8
	}
	s.trace = append(s.trace, uint64(b%n))
	return b % n
}

// record appends the bytes that decode to decision v among n (script mode).
func (s *source) record(label string, n, v int) int {
	if v < 0 || v >= n {
		panic(fmt.Sprintf("seed script: %s=%d not in [0, %d)", label, v, n))
	}
	s.out = append(s.out, byte(v))
	if n > 256 {
		s.out = append(s.out, byte(v>>8))
	}
	s.trace = append(s.trace, uint64(v))
	return v
}

// pick returns one entry of table; a script names the entry by its value.
func (s *source) pick(label string, table []int) int {
	if s.script != nil {
		want := s.script.Int(label)
		for i, v := range table {
			if v == want {
				return table[s.record(label, len(table), i)]
			}
		}
		panic(fmt.Sprintf("seed script: %s=%d is not an option", label, want))
	}
	return table[s.intn(label, len(table))]
}

// pickF is pick for a table of float64 options.
func (s *source) pickF(label string, table []float64) float64 {
	if s.script != nil {
		want := s.script.Float(label)
		for i, v := range table {
			if math.Float64bits(v) == math.Float64bits(want) {
				return table[s.record(label, len(table), i)]
			}
		}
		panic(fmt.Sprintf("seed script: %s=%v is not an option", label, want))
	}
	return table[s.intn(label, len(table))]
}

// rawBits returns size (4 or 8) little-endian element bytes.
func (s *source) rawBits(size int) uint64 {
	var b [8]byte
	for i := 0; i < size; i++ {
		b[i] = s.next(true)
	}
	return binary.LittleEndian.Uint64(b[:])
}

// emitBits appends size little-endian bytes of v (script mode).
func (s *source) emitBits(v uint64, size int) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	s.out = append(s.out, b[:size]...)
}
