package neon

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/encodings.txt from the GNU assembler")

// generated is where the generator writes its assembly; every WORD in it
// must be a GNU-verified encoding too.
const generated = "../../kernels/arm64"

// forms enumerates encodings of every instruction the package can produce:
// each arrangement, and register numbers chosen so that every value of each
// 5-bit field appears, plus every legal shift amount.
func forms(t *testing.T) []Inst {
	var out []Inst
	add := func(in Inst, err error) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in)
	}
	reg := func(i, mul, add int) V { return V((i*mul + add) % 32) }
	for _, a := range []Arr{S4, D2} {
		for op := range threeSame {
			for i := 0; i < 32; i++ {
				add(ThreeSame(op, a, V(i), reg(i, 7, 3), reg(i, 13, 5)))
			}
		}
		for op := range twoMisc {
			for i := 0; i < 32; i++ {
				add(TwoMisc(op, a, V(i), reg(i, 7, 3)))
			}
		}
		for op, f := range shifts {
			lo, hi := 0, a.bits()-1
			if f.right {
				lo, hi = 1, a.bits()
			}
			for s := lo; s <= hi; s++ {
				add(Shift(op, a, V(s%32), reg(s, 7, 3), s))
			}
		}
		for op := range pairwise {
			for i := 0; i < 32; i++ {
				add(Pairwise(op, a, V(i), reg(i, 7, 3)))
			}
		}
	}
	for i := 0; i < 32; i++ {
		add(Fcvtl(V(i), reg(i, 7, 3), false))
		add(Fcvtl(V(i), reg(i, 7, 3), true))
		for _, up := range []bool{false, true} {
			add(Fcvtn16(V(i), reg(i, 7, 3), up))
			add(Fcvtl16(V(i), reg(i, 7, 3), up))
		}
	}
	for op := range across {
		for i := 0; i < 32; i++ {
			add(Across(op, V(i), reg(i, 7, 3)))
		}
	}
	return out
}

var wordLine = regexp.MustCompile(`WORD \$0x([0-9a-f]{8}) // (.*)$`)

// generatedWords reads the WORD lines of the committed generated assembly.
func generatedWords(t *testing.T) []Inst {
	files, _ := filepath.Glob(filepath.Join(generated, "*.s"))
	var out []Inst
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			m := wordLine.FindStringSubmatch(line)
			if m == nil {
				if strings.Contains(line, "WORD") {
					t.Errorf("%s: unparsed WORD line %q", f, line)
				}
				continue
			}
			w, _ := strconv.ParseUint(m[1], 16, 32)
			out = append(out, Inst{uint32(w), m[2]})
		}
	}
	return out
}

func readTestdata(t *testing.T) map[string]uint32 {
	f, err := os.Open("testdata/encodings.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		hex, asm, ok := strings.Cut(line, "\t")
		w, err := strconv.ParseUint(hex, 16, 32)
		if !ok || err != nil {
			t.Fatalf("bad testdata line %q", line)
		}
		want[asm] = uint32(w)
	}
	return want
}

// TestEncodings checks every encoding (the enumerated forms and every WORD
// of the generated kernels) against the GNU assembler's, as recorded in
// testdata/encodings.txt.
func TestEncodings(t *testing.T) {
	if *update {
		t.Skip("rewriting testdata (TestGNU)")
	}
	want := readTestdata(t)
	all := append(forms(t), generatedWords(t)...)
	for _, in := range all {
		w, ok := want[in.Asm]
		switch {
		case !ok:
			t.Errorf("%s: not in testdata (run go test -run TestGNU -update with binutils installed)", in.Asm)
		case w != in.Word:
			t.Errorf("%s: encoded %08x, GNU as gives %08x", in.Asm, in.Word, w)
		}
	}
	t.Logf("%d encodings checked (%d from the generated kernels)", len(all), len(generatedWords(t)))
}

// TestGNU assembles every encoding with aarch64-linux-gnu-as and compares
// the words objdump prints; with -update it rewrites the testdata.
func TestGNU(t *testing.T) {
	as, err1 := exec.LookPath("aarch64-linux-gnu-as")
	objdump, err2 := exec.LookPath("aarch64-linux-gnu-objdump")
	if err1 != nil || err2 != nil {
		t.Skip("binutils-aarch64-linux-gnu not installed; TestEncodings uses the committed testdata")
	}
	all := append(forms(t), generatedWords(t)...)
	uniq := map[string]uint32{}
	var order []string
	for _, in := range all {
		if _, ok := uniq[in.Asm]; !ok {
			order = append(order, in.Asm)
		}
		uniq[in.Asm] = in.Word
	}
	sort.Strings(order)
	dir := t.TempDir()
	src := filepath.Join(dir, "a.s")
	obj := filepath.Join(dir, "a.o")
	if err := os.WriteFile(src, []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, src, "-o", obj).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	out, err := exec.Command(objdump, "-d", obj).Output()
	if err != nil {
		t.Fatal(err)
	}
	// Lines look like "   4:\t4e63d441 \tfadd\tv1.2d, v2.2d, v3.2d".
	dis := regexp.MustCompile(`^\s*[0-9a-f]+:\s+([0-9a-f]{8})\s`)
	var got []uint32
	for _, line := range strings.Split(string(out), "\n") {
		if m := dis.FindStringSubmatch(line); m != nil {
			w, _ := strconv.ParseUint(m[1], 16, 32)
			got = append(got, uint32(w))
		}
	}
	if len(got) != len(order) {
		t.Fatalf("objdump printed %d words for %d instructions", len(got), len(order))
	}
	var file bytes.Buffer
	file.WriteString("# GNU as (binutils-aarch64-linux-gnu) encodings of every instruction\n# package neon can emit; regenerate: go test -run TestGNU -update\n")
	for i, asm := range order {
		if got[i] != uniq[asm] {
			t.Errorf("%s: encoded %08x, GNU as gives %08x", asm, uniq[asm], got[i])
		}
		fmt.Fprintf(&file, "%08x\t%s\n", got[i], asm)
	}
	if *update {
		if err := os.WriteFile("testdata/encodings.txt", file.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d encodings agree with GNU as", len(order))
}

// TestRangeChecks makes sure bad operands are refused rather than encoded.
func TestRangeChecks(t *testing.T) {
	bad := []error{
		func() error { _, err := ThreeSame("fadd", S4, 32, 0, 0); return err }(),
		func() error { _, err := ThreeSame("fadd", Arr(7), 0, 0, 0); return err }(),
		func() error { _, err := ThreeSame("add", S4, 0, 0, 0); return err }(),
		func() error { _, err := TwoMisc("fabs", S4, 0, 40); return err }(),
		func() error { _, err := Shift("sshr", S4, 0, 0, 0); return err }(),
		func() error { _, err := Shift("sshr", S4, 0, 0, 33); return err }(),
		func() error { _, err := Shift("shl", D2, 0, 0, 64); return err }(),
		func() error { _, err := Shift("shl", S4, 0, 0, -1); return err }(),
		func() error { _, err := Across("fmaxv", 0, 32); return err }(),
		func() error { _, err := Pairwise("faddp", Arr(3), 0, 0); return err }(),
		func() error { _, err := Fcvtl(0, 32, true); return err }(),
	}
	for i, err := range bad {
		if err == nil {
			t.Errorf("case %d: bad operands accepted", i)
		}
	}
	var e Emitter
	e.FADD(S4, 1, 2, 3)
	e.SSHR(S4, 1, 2, 0)
	e.FMUL(S4, 1, 2, 3)
	if _, err := e.Bytes(); err == nil {
		t.Error("Emitter lost the error of a bad shift")
	}
}
