package fuzz

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated seeds under testdata/fuzz/<FuzzName>/seed-*")

// families maps each fuzz target to its decoder.
var families = map[string]decoder{
	"FuzzCrossEntropy":          ceDecoder(ceInt),
	"FuzzCrossEntropyProbs":     ceDecoder(ceProbs),
	"FuzzSoftmaxFocal":          ceDecoder(ceFocal),
	"FuzzCrossEntropyShards":    ceDecoder(ceShards),
	"FuzzNLL":                   ceDecoder(ceNLL),
	"FuzzCrossEntropyHalf":      ceHalfDecoder(ceInt),
	"FuzzCrossEntropyProbsHalf": ceHalfDecoder(ceProbs),
	"FuzzSoftmaxFocalHalf":      ceHalfDecoder(ceFocal),
	"FuzzBCEWithLogitsHalf":     binaryHalfDecoder(binLogits),
	"FuzzSigmoidFocalHalf":      binaryHalfDecoder(binFocalLogits),
	"FuzzKLDiv":                 decodeKLDivFamily,
	"FuzzDistill":               decodeDistillFamily,
	"FuzzBCEWithLogits":         binaryDecoder(binLogits),
	"FuzzBCE":                   binaryDecoder(binProbs),
	"FuzzSigmoidFocal":          binaryDecoder(binFocalLogits),
	"FuzzRegression":            decodeRegressionFamily,
	"FuzzPrimitives":            decodePrimitiveFamily,
}

// seed is a script: the values of the decisions it names, cycled when a
// label is decided more than once (array elements); every other decision
// takes its default (the plain case, and generated data for arrays).
type seed struct {
	name   string
	ints   map[string][]int
	floats map[string][]float64
	used   map[string]int
}

// sd builds a seed from label, value pairs; a value is an int, a float64,
// or a slice of either.
func sd(name string, kv ...any) *seed {
	s := &seed{name: name, ints: map[string][]int{}, floats: map[string][]float64{}, used: map[string]int{}}
	for i := 0; i < len(kv); i += 2 {
		label := kv[i].(string)
		switch v := kv[i+1].(type) {
		case int:
			s.ints[label] = []int{v}
		case []int:
			s.ints[label] = v
		case float64:
			s.floats[label] = []float64{v}
		case []float64:
			s.floats[label] = v
		default:
			panic(fmt.Sprintf("seed %s: %s has a %T", name, label, v))
		}
	}
	return s
}

// with returns a copy of s under another name with more decisions set.
func (s *seed) with(name string, kv ...any) *seed {
	t := sd(name, kv...)
	for k, v := range s.ints {
		if _, ok := t.ints[k]; !ok {
			t.ints[k] = v
		}
	}
	for k, v := range s.floats {
		if _, ok := t.floats[k]; !ok {
			t.floats[k] = v
		}
	}
	return t
}

func (s *seed) next(label string, n int) int {
	i := s.used[label]
	s.used[label]++
	return i % n
}

var intDefaults = map[string]int{"n": 1, "k": 1, "len": 1}

func (s *seed) Int(label string) int {
	if v, ok := s.ints[label]; ok {
		return v[s.next(label, len(v))]
	}
	if base, ok := strings.CutSuffix(label, ".mode"); ok {
		switch _, scripted := s.floats[base]; {
		case scripted:
			return modeWild
		case s.ints[base] != nil:
			return 0 // scripted targets
		}
		return modeGenPlain // also mixed generated targets
	}
	return intDefaults[label]
}

var floatDefaults = map[string]float64{"param": 1, "asym.fn": 1, "asym.fp": 1, "alpha": 0.25}

func (s *seed) Float(label string) float64 {
	if v, ok := s.floats[label]; ok {
		return v[s.next(label, len(v))]
	}
	return floatDefaults[label]
}

// encode runs the decoder under the seed's script and returns the bytes
// that decode to the same case, with the case's description.
func (s *seed) encode(dec decoder) ([]byte, string, []uint64) {
	s.used = map[string]int{}
	src := newScript(s)
	c := dec(src)
	return src.out, c.String(), src.trace
}

// corpusFile formats one input the way go test stores fuzz inputs.
func corpusFile(data []byte) []byte {
	return []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data))
}

// TestSeedCorpus checks that every seed decodes from its bytes to the case
// its script describes and that the committed corpus holds exactly these
// bytes; go test ./fuzz -run TestSeedCorpus -update-seeds rewrites it.
func TestSeedCorpus(t *testing.T) {
	old := fullDescribe
	fullDescribe = true
	defer func() { fullDescribe = old }()
	targets := make([]string, 0, len(families))
	for name := range families {
		targets = append(targets, name)
	}
	sort.Strings(targets)
	for _, target := range targets {
		dec := families[target]
		names := map[string]bool{}
		for _, s := range seeds[target] {
			if names[s.name] {
				t.Fatalf("%s: two seeds named %s", target, s.name)
			}
			names[s.name] = true
			data, want, wantTrace := s.encode(dec)
			src := newSource(data)
			got := dec(src).String()
			if got != want || !reflect.DeepEqual(src.trace, wantTrace) || src.pos != len(data) {
				t.Errorf("%s/%s: the bytes decode to\n%s\nnot the scripted\n%s", target, s.name, got, want)
				continue
			}
			path := filepath.Join(corpusDir(target), "seed-"+s.name)
			file := corpusFile(data)
			if *updateSeeds {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, file, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if have, err := os.ReadFile(path); err != nil || !bytes.Equal(have, file) {
				t.Errorf("%s is missing or stale: run go test ./fuzz -run TestSeedCorpus -update-seeds", path)
			}
		}
		// Generated seeds that no script makes any more.
		files, _ := filepath.Glob(filepath.Join(corpusDir(target), "seed-*"))
		for _, f := range files {
			if !names[strings.TrimPrefix(filepath.Base(f), "seed-")] {
				if *updateSeeds {
					os.Remove(f)
				} else {
					t.Errorf("%s is no seed of the generator any more: run with -update-seeds", f)
				}
			}
		}
	}
}

// Edge values used by the seeds.
var (
	inf32, sub32, sub64 = math.Inf(1), float64(math.SmallestNonzeroFloat32), math.SmallestNonzeroFloat64
	max32               = float64(math.MaxFloat32)
)

// both returns the seed in float32 and float64.
func both(s *seed) []*seed {
	return []*seed{s.with(s.name+"-f32", "f64", 0), s.with(s.name+"-f64", "f64", 1)}
}

// all concatenates seed lists.
func all(lists ...[]*seed) []*seed {
	var out []*seed
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// widths returns one seed per K around every vector width, with generated
// data and the given other decisions.
func widths(prefix string, kv ...any) []*seed {
	var out []*seed
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 65, 257, 1000, 4099} {
		n := 3
		if k >= 1000 {
			n = 1
		}
		out = append(out, both(sd(fmt.Sprintf("%s-k%d", prefix, k), append([]any{"n", n, "k", k}, kv...)...))...)
	}
	return out
}

// lengths is widths for the flat element-wise losses.
func lengths(prefix string, kv ...any) []*seed {
	var out []*seed
	for _, l := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 65, 257, 4099} {
		out = append(out, both(sd(fmt.Sprintf("%s-len%d", prefix, l), append([]any{"len", l}, kv...)...))...)
	}
	return out
}
