package fuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestCorpusChecked runs the committed corpus (testdata/fuzz/<Target>/,
// which go test also runs as the fuzz targets' seeds) through a tally and
// logs how many of its valid inputs were value-checked on each backend; a
// target, backend and type with at least minValid valid inputs fails below
// minChecked. The failures themselves are reported by the fuzz targets.
func TestCorpusChecked(t *testing.T) {
	targets := make([]string, 0, len(families))
	for name := range families {
		targets = append(targets, name)
	}
	sort.Strings(targets)
	tl := newTally()
	for _, target := range targets {
		files, err := filepath.Glob(filepath.Join(corpusDir(target), "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := readCorpusFile(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			families[target](newSource(data)).failures(tl, target)
		}
	}
	tl.report(t)
}

// readCorpusFile reads one input stored the way go test stores them.
func readCorpusFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("not a one-[]byte corpus file")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	return []byte(s), err
}
