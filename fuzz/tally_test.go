package fuzz

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// A tally counts what the checks did with the inputs, per target × backend
// × element type: how many were valid calls (no fault, data inside the
// documented domain) and how many of those were value-checked, that is,
// compared with the reference with no violation excused by a known
// finding (known_test.go). It also counts, per finding, the failures its
// class excused (or, under LOSSFUSE_FUZZ_STRICT=1, would have excused): a
// finding that excuses nothing has no reason to stay.
type tally struct {
	mu    sync.Mutex
	cells map[cellKey]*cell
	input []byte // the input being run, for the samples' corpus files
}

type cellKey struct{ target, backend, dtype string }

type cell struct {
	inputs      int            // every run
	invalid     int            // broken on purpose (or by their values): error checks only
	outOfDomain int            // valid calls with data outside the documented domain
	valid       int            // valid calls inside the domain
	checked     int            // valid calls compared with nothing excused
	excused     map[string]int // valid calls whose violations a finding excused
	excusable   map[string]int // failed comparisons a finding's class holds (strict or not)
	bare        int            // failed comparisons no class holds
	samples     map[string][]string
}

func newTally() *tally { return &tally{cells: map[cellKey]*cell{}} }

// minValid is the number of valid inputs a cell needs before its checked
// ratio counts; minChecked is the ratio every counted cell must reach.
const (
	minValid   = 200
	minChecked = 0.90
)

func (t *tally) add(target, backend, dtype string, o outcome) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := cellKey{target, backend, dtype}
	c := t.cells[k]
	if c == nil {
		c = &cell{excused: map[string]int{}, excusable: map[string]int{}, samples: map[string][]string{}}
		t.cells[k] = c
	}
	c.inputs++
	switch {
	case !o.valid:
		c.invalid++
		return
	case o.domain != "":
		c.outOfDomain++
		return
	}
	c.valid++
	if o.checkErr != nil {
		if len(o.filters) > 0 {
			c.excusable[findingID(o.filters[0])]++
		} else {
			c.bare++
		}
	}
	if o.skippedBy != "" {
		c.excused[findingID(o.skippedBy)]++
	} else {
		c.checked++
	}
}

// sample keeps up to three failure messages per cell and first filter
// ("none" for failures no filter covers).
func (t *tally) sample(target, backend, dtype string, o outcome, msg string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cells[cellKey{target, backend, dtype}]
	id := "none"
	if len(o.filters) > 0 {
		id = findingID(o.filters[0])
	}
	if len(c.samples[id]) < 3 {
		if t.input != nil {
			msg += "\ninput:\n" + string(corpusFile(t.input))
		}
		c.samples[id] = append(c.samples[id], msg)
	}
}

// findingID is the "F12" of a finding's description.
func findingID(f string) string {
	if i := strings.IndexByte(f, ' '); i > 0 {
		return f[:i]
	}
	return f
}

func (t *tally) keys() []cellKey {
	keys := make([]cellKey, 0, len(t.cells))
	for k := range t.cells {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.target != b.target {
			return a.target < b.target
		}
		if a.backend != b.backend {
			return a.backend < b.backend
		}
		return a.dtype < b.dtype
	})
	return keys
}

// table formats the tally: one line per cell, with the checked ratio of
// the valid inputs, the failures no finding's class holds, and per finding
// the valid inputs it excused and the failures its class holds.
func (t *tally) table() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-22s %-8s %-7s %6s %6s %6s %6s %7s %6s  %s\n",
		"target", "backend", "dtype", "inputs", "fault", "domain", "valid", "checked", "failed", "findings (excused/failures in class)")
	for _, k := range t.keys() {
		c := t.cells[k]
		ids := make([]string, 0, len(c.excusable))
		for id := range c.excusable {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var fs []string
		for _, id := range ids {
			fs = append(fs, fmt.Sprintf("%s %d/%d", id, c.excused[id], c.excusable[id]))
		}
		fmt.Fprintf(&sb, "%-22s %-8s %-7s %6d %6d %6d %6d %6.1f%% %6d  %s\n",
			k.target, k.backend, k.dtype, c.inputs, c.invalid, c.outOfDomain, c.valid,
			100*c.ratio(), c.bare, strings.Join(fs, ", "))
	}
	return sb.String()
}

// ratio is the checked share of the valid inputs.
func (c *cell) ratio() float64 {
	if c.valid == 0 {
		return 1
	}
	return float64(c.checked) / float64(c.valid)
}

// report logs the table and fails t for every cell with at least minValid
// valid inputs of which fewer than minChecked were value-checked.
func (t *tally) report(tb testing.TB) {
	tb.Helper()
	tb.Logf("value checks per target, backend and type (strict=%v):\n%s", strict, t.table())
	if out := os.Getenv("LOSSFUSE_FUZZ_TALLY"); out != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprint(f, t.table())
			f.Close()
		}
	}
	for _, k := range t.keys() {
		c := t.cells[k]
		if measuring {
			for id, msgs := range c.samples {
				for _, m := range msgs {
					tb.Logf("%s %s %s, failing under %s:\n%s", k.target, k.backend, k.dtype, id, m)
				}
			}
		}
		if c.valid >= minValid && c.ratio() < minChecked {
			tb.Errorf("%s on %s, %s: %d of %d valid inputs value-checked (%.1f%%), want at least %.0f%%",
				k.target, k.backend, k.dtype, c.checked, c.valid, 100*c.ratio(), 100*minChecked)
		}
	}
}
