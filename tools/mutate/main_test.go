package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnchors fails as soon as a change to the code leaves a mutant's
// anchor missing or ambiguous, rather than when the mutation run finds
// it void: update the mutant with the code.
func TestAnchors(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, m := range mutants {
		if err := m.anchor(func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) }); err != nil {
			t.Error(err)
		}
	}
}

// TestTable checks the table's shape: unique ids, known backends and
// kinds, real changes, and every kind on every backend.
func TestTable(t *testing.T) {
	ids := map[string]bool{}
	covered := map[string]bool{}
	for _, m := range mutants {
		if ids[m.ID] {
			t.Errorf("duplicate id %s", m.ID)
		}
		ids[m.ID] = true
		if !validBackend(m.Backend) || !strings.HasPrefix(m.ID, m.Backend+"/") {
			t.Errorf("%s: backend %q", m.ID, m.Backend)
		}
		known := false
		for _, k := range kinds {
			known = known || k == m.Kind
		}
		if !known {
			t.Errorf("%s: unknown kind %q", m.ID, m.Kind)
		}
		if m.Old != "" && !strings.Contains(m.Find, m.Old) {
			t.Errorf("%s: Old is not inside Find", m.ID)
		}
		if m.Replace() == m.Find {
			t.Errorf("%s: the mutation changes nothing", m.ID)
		}
		if strings.Contains(m.New, "$ON") {
			t.Errorf("%s: unexpanded $ON", m.ID)
		}
		if len(m.tests()) == 0 {
			t.Errorf("%s: no tests", m.ID)
		}
		covered[m.Backend+" "+m.Kind] = true
	}
	for _, b := range backends {
		for _, k := range kinds {
			if !covered[b+" "+k] {
				t.Errorf("no %s mutant on %s", k, b)
			}
		}
	}
}

// TestDocTable: docs/mutation.md shows the table as -list prints it.
func TestDocTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "mutation.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Table()) {
		t.Errorf("docs/mutation.md does not hold the current mutant table: paste the output of go run ./tools/mutate -list")
	}
}

func TestSelect(t *testing.T) {
	all, err := selectMutants("neon", "", "")
	if err != nil || len(all) == 0 {
		t.Fatalf("neon: %d mutants, %v", len(all), err)
	}
	n := 0
	for i := 0; i < 3; i++ {
		part, err := selectMutants("neon", "", string(rune('0'+i))+"/3")
		if err != nil {
			t.Fatal(err)
		}
		n += len(part)
	}
	if n != len(all) {
		t.Errorf("subsets 0/3..2/3 hold %d mutants, want %d", n, len(all))
	}
	for _, bad := range []string{"3/3", "x/2", "1", "0/0"} {
		if _, err := selectMutants("", "", bad); err == nil {
			t.Errorf("-subset %s accepted", bad)
		}
	}
	if _, err := selectMutants("", "no/such", ""); err == nil {
		t.Error("-only with an unknown id accepted")
	}
}

func TestFailures(t *testing.T) {
	out := []byte("--- FAIL: TestA (0.1s)\n    --- FAIL: TestA/x/y (0.0s)\n--- FAIL: TestB (0.0s)\nFAIL\n")
	if got, want := failures(out), "TestA,TestB (first: TestA/x/y)"; got != want {
		t.Errorf("failures = %q, want %q", got, want)
	}
}
