package amd64

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAVX2RegistersOnly reads the generated assembly and fails if a
// function meant for AVX2 CPUs (name ending in AVX2) uses what only
// AVX-512 has: the registers X16–X31, Y16–Y31, any Z register, the mask
// registers K0–K7, or an EVEX-only instruction form. The native suite
// cannot see this on an AVX-512 machine (the instruction just runs); an
// AVX2-only CPU dies with SIGILL, which CI's qemu -cpu Haswell run shows
// only for the paths it reaches.
func TestAVX2RegistersOnly(t *testing.T) {
	f, err := os.Open("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	avx512Only := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b|\.Z\b|\.BCST\b|\b(VPERMT2|VSCALEF|VRNDSCALE|VEXTRACTF(32|64)X|KMOV|KORTEST|VPTERNLOG|VGETEXP|VFIXUPIMM|VCOMPRESS|VEXPAND)`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var fn string
	var bad, funcs int
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "TEXT ") {
			fn = text
			if strings.Contains(fn, "AVX2(SB)") {
				funcs++
			}
			continue
		}
		if !strings.Contains(fn, "AVX2(SB)") {
			continue
		}
		code, _, _ := strings.Cut(text, "//")
		if m := avx512Only.FindString(code); m != "" {
			if bad < 10 {
				t.Errorf("line %d, %s: %q uses %s (AVX-512 only)", line, strings.Fields(fn)[1], strings.TrimSpace(code), m)
			}
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if funcs < 100 {
		t.Fatalf("found only %d AVX2 functions: has the naming changed?", funcs)
	}
	if bad > 0 {
		t.Errorf("%d AVX-512-only operands in AVX2 functions", bad)
	}
}

// TestZMMConstantsBroadcast reads the generated assembly and fails if an
// instruction with a ZMM operand reads a RODATA table (a <>(SB) symbol) at
// full width. Go's linker aligns those symbols to 32 bytes, not 64, so a
// 64-byte read of one straddles two cache lines in every binary that
// places it at 32 mod 64, and only there (Distill's pass 1 ran 1.7× slower
// in such a binary). Constants must be read as embedded broadcasts
// (.BCST), broadcast loads, or widened from a table of at most 16 bytes.
func TestZMMConstantsBroadcast(t *testing.T) {
	f, err := os.Open("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table := regexp.MustCompile(`<>\+\d+\(SB\)`)
	zmm := regexp.MustCompile(`\bZ\d+\b`)
	narrow := regexp.MustCompile(`^(\S+\.BCST|VBROADCASTS[SD]|VPBROADCAST[BWDQ]|VPMOVZXB[DQ]|KMOV[BWDQ])$`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var fn string
	bad, reads := 0, 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "TEXT ") {
			fn = text
			continue
		}
		if !table.MatchString(text) || !zmm.MatchString(text) {
			continue
		}
		reads++
		op := strings.Fields(text)[0]
		if narrow.MatchString(op) {
			continue
		}
		if bad++; bad <= 20 {
			t.Errorf("kernels_amd64.s:%d (%s): full-width ZMM read of a table: %s", line, fn, strings.TrimSpace(text))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if reads == 0 {
		t.Fatal("no ZMM reads of a table found: the scan is broken")
	}
	if bad > 0 {
		t.Errorf("%d full-width ZMM table reads in all", bad)
	}
}
