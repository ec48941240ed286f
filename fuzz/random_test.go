package fuzz

import (
	"math/rand"
	"os"
	"sort"
	"strconv"
	"testing"
)

// TestRandomInputs runs LOSSFUSE_FUZZ_RANDOM random inputs per target
// through the same checks as the fuzz targets, without the fuzzing engine:
// the way to fuzz a backend that runs only under qemu-user, where the
// engine cannot start its workers. LOSSFUSE_FUZZ_SEED picks the inputs. A
// failure prints the input as a corpus file body for
// testdata/fuzz/<Target>/.
func TestRandomInputs(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LOSSFUSE_FUZZ_RANDOM"))
	if n <= 0 {
		t.Skip("set LOSSFUSE_FUZZ_RANDOM=N to run N random inputs per target")
	}
	seed, _ := strconv.ParseInt(os.Getenv("LOSSFUSE_FUZZ_SEED"), 10, 64)
	targets := make([]string, 0, len(families))
	for name := range families {
		targets = append(targets, name)
	}
	sort.Strings(targets)
	tl := newTally()
	defer tl.report(t)
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			for i := 0; i < n; i++ {
				data := make([]byte, rng.Intn(160))
				rng.Read(data)
				tl.input = data
				for _, msg := range families[target](newSource(data)).failures(tl, target) {
					t.Errorf("%s\ninput (testdata/fuzz/%s/<name>):\n%s", msg, target, corpusFile(data))
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}
