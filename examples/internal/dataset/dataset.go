// Package dataset loads the example data sets committed under
// examples/testdata (extracted from Debian's python3-sklearn by
// testdata/extract.py), splits them into train and test sets with a fixed
// seed and standardises their features. Nothing is downloaded.
package dataset

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Set is a data set held row-major: X has N rows of D features, Y one
// target per row (a class index for classification, a value for regression).
type Set struct {
	Name     string
	X        []float64
	Y        []float64
	N, D     int
	Features []string
}

// Row returns the features of row i (a view into X).
func (s *Set) Row(i int) []float64 { return s.X[i*s.D : (i+1)*s.D] }

// Labels returns Y as int32 class indices, the form the cross-entropy
// kernels take.
func (s *Set) Labels() []int32 {
	l := make([]int32, s.N)
	for i, y := range s.Y {
		l[i] = int32(y)
	}
	return l
}

// DirEnv names an environment variable that overrides where the data is
// looked for (the examples module's testdata directory).
const DirEnv = "LOSSFUSE_EXAMPLES_DATA"

// Dir finds examples/testdata: $LOSSFUSE_EXAMPLES_DATA if set, else the
// first directory upwards from the working directory that holds the
// examples module (so `go run ./digits` and `go test ./...` both work).
func Dir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		for _, cand := range []string{d, filepath.Join(d, "examples")} {
			if isExamplesModule(cand) {
				return filepath.Join(cand, "testdata"), nil
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("dataset: no examples module above %s; set %s", wd, DirEnv)
		}
		d = parent
	}
}

func isExamplesModule(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && strings.Contains(string(b), "module github.com/lossfuse/lossfuse/examples\n")
}

// Digits loads scikit-learn's copy of the UCI optical handwritten digits:
// 1,797 8×8 images of pixel counts 0..16 (64 features) and the digit 0–9.
func Digits() (*Set, error) { return load("digits", "digits.csv.gz", 1797, 64) }

// BreastCancer loads the Wisconsin diagnostic breast cancer data: 569 rows of
// 30 features. Y is 1 for malignant (212 rows, the minority class) and 0 for
// benign: the file keeps scikit-learn's coding (1 = benign) and this flips
// it, so that precision and recall are about finding the malignant cases.
func BreastCancer() (*Set, error) {
	s, err := load("breast cancer", "breast_cancer.csv", 569, 30)
	if err != nil {
		return nil, err
	}
	for i, y := range s.Y {
		s.Y[i] = 1 - y
	}
	return s, nil
}

// Diabetes loads the diabetes progression data of Efron et al. (2004): 442
// rows of 10 raw baseline variables and the disease progression after one year.
func Diabetes() (*Set, error) { return load("diabetes", "diabetes.csv", 442, 10) }

func load(name, file string, n, d int) (*Set, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, file)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w (run testdata/extract.py to regenerate)", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		g, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		defer g.Close()
		r = g
	}
	s, err := parse(r, d)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if s.N != n {
		return nil, fmt.Errorf("dataset: %s: %d rows, want %d", path, s.N, n)
	}
	s.Name = name
	return s, nil
}

// parse reads a CSV with a header row, d feature columns and a last target column.
func parse(r io.Reader, d int) (*Set, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = d + 1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, err
	}
	s := &Set{D: d, Features: append([]string(nil), header[:d]...)}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for j, field := range rec {
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, fmt.Errorf("row %d column %d: %w", s.N+2, j+1, err)
			}
			if j < d {
				s.X = append(s.X, v)
			} else {
				s.Y = append(s.Y, v)
			}
		}
		s.N++
	}
	return s, nil
}

// Split shuffles the rows with a PCG generator seeded by seed and returns the
// first ⌈(1−testFrac)·N⌉ rows as the training set and the rest as the test set.
// When stratify is set, each class (Y value) is split in that proportion, so
// that both sets keep the class balance.
func Split(s *Set, testFrac float64, seed uint64, stratify bool) (train, test *Set) {
	rng := rand.New(rand.NewPCG(seed, 0x10557f05e))
	var trainIdx, testIdx []int
	take := func(idx []int) {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nTest := int(math.Round(testFrac * float64(len(idx))))
		testIdx = append(testIdx, idx[:nTest]...)
		trainIdx = append(trainIdx, idx[nTest:]...)
	}
	if stratify {
		byClass := map[float64][]int{}
		var order []float64 // first-seen order keeps the split deterministic
		for i, y := range s.Y {
			if _, ok := byClass[y]; !ok {
				order = append(order, y)
			}
			byClass[y] = append(byClass[y], i)
		}
		for _, y := range order {
			take(byClass[y])
		}
		// Interleave the classes again so that a prefix is not one class.
		rng.Shuffle(len(trainIdx), func(i, j int) { trainIdx[i], trainIdx[j] = trainIdx[j], trainIdx[i] })
		rng.Shuffle(len(testIdx), func(i, j int) { testIdx[i], testIdx[j] = testIdx[j], testIdx[i] })
	} else {
		all := make([]int, s.N)
		for i := range all {
			all[i] = i
		}
		take(all)
	}
	return s.subset(trainIdx, "train"), s.subset(testIdx, "test")
}

func (s *Set) subset(idx []int, part string) *Set {
	t := &Set{Name: s.Name + " " + part, N: len(idx), D: s.D, Features: s.Features,
		X: make([]float64, 0, len(idx)*s.D), Y: make([]float64, 0, len(idx))}
	for _, i := range idx {
		t.X = append(t.X, s.Row(i)...)
		t.Y = append(t.Y, s.Y[i])
	}
	return t
}

// Standardize rescales every feature of train and test to zero mean and unit
// variance using the training set's statistics only (the test set must not
// leak into the model). Constant features (some digit pixels are always 0)
// are only centred.
func Standardize(train, test *Set) {
	for j := 0; j < train.D; j++ {
		var mean, sq float64
		for i := 0; i < train.N; i++ {
			mean += train.X[i*train.D+j]
		}
		mean /= float64(train.N)
		for i := 0; i < train.N; i++ {
			d := train.X[i*train.D+j] - mean
			sq += d * d
		}
		sd := math.Sqrt(sq / float64(train.N))
		if sd == 0 {
			sd = 1
		}
		for _, s := range []*Set{train, test} {
			for i := 0; i < s.N; i++ {
				s.X[i*s.D+j] = (s.X[i*s.D+j] - mean) / sd
			}
		}
	}
}
