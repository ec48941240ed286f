package fuzz

import (
	"runtime"
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// knownClasses holds, for every known finding left in known_test.go and
// every family it excuses failures in, one input of its class that the
// fuzzer found (LOSSFUSE_FUZZ_STRICT=1 LOSSFUSE_FUZZ_MEASURE=1 random
// inputs on AMD Zen 5) and the backends it fails on.
var knownClasses = []struct {
	target  string
	finding string
	input   string
	fails   []string // the backends whose comparison fails on amd64 (Zen 5)
}{
	{"FuzzRegression", findSmoothL1Sq, "\x0fA\xc8\x04\x9e\xec\xa94\xf5\xfeQĄ-6?v-h\x0f>x\x985\xd05\xa74T\x05zɸ<F\xf7ze\xe9/w\xa6p1\x15\fj\x19R\xef\t", []string{"avx2", "avx512"}},
	{"FuzzCrossEntropy", findHugeLogits, "c1\x88\xd3 H|\xbd\xaa`\xa9XYo\xc5@n(\x14\x10\x82s*\xbc\x9f\x8e=\xf9M\x89\xf7\x8e\t\xb8\xf1\xac\r\xcavs\x96\x01\x95\xec\xe8\xd4\x11\xfd\xa7dΆc\xce", []string{"generic"}},
	{"FuzzRegression", findHugeLogits, "\xe3a\\\xef\xe0m\xe5\xc0\x86\xed.\x85W\xfev\xb6\xb3|\x8d-\xef\xf6\x05_X-C\x10\x13?\x85d@W^?\x9fn[û\xaei\xdb-\x03\xde6(\x01Ky\xd1tI'\xfa\x8e\t", []string{"avx2", "avx512"}},
	{"FuzzCrossEntropy", findFarFirstLogit, "d\xee죔\x89\x8de\xd5Bѱy\xa2\xa2\xa1\xf4{\xdd<eqҸ\xaf\xc2j\xb6\x10\xe46\xbdי\xfe\xd43\xcf74ҧŎSB\x13\x18\x8c\xdc\xc9Q\xe0\xf9\xd4&M{\x89\x1c\xc2_\xe0\xfa\r}ɻ\x94\xcc\x04\x95\xf0\x80\xbe`\xbf\xa9\xb3\x06p(\f#\xf8\xd7[\x1c~\xb9\t\xa4i\xd6\xf5{\xdbp=\xbcЖ;", []string{"avx2", "avx512"}},
	{"FuzzRegression", findScaleSubnorm, "}L\x1e\x94\xa7\xb4\x01i\x8e\x15~gR\x84 \xe7\xa6\xc53\xa5\xf2\xa7=\x86j\x03.\b\xdeV\x16.\x8e\xe0v7@4\x9e\xd3D\x02\xd3\x02\xaa y\x1e\a\x9dX5\x06\x92\x1cFkYP*\xc0\xa2<H?m\xae\x18/V\x8c\xa9\xcf", []string{"generic", "avx2", "avx512"}},
	{"FuzzBCE", findF32Huge, "\xb6_\x1a\xa9o\xad\xb8\xffR\x86\x0fK\x03\r\xb5\xbb^\x95Uh#s\x8c\xabo^\xf3\xda-\x9c\xa5", []string{"avx2", "avx512"}},
	{"FuzzBCEWithLogits", findF32Huge, "\xe8;v%\x88\xd79r\x9f\xffE\xa7\xf4\xa5A\xaa\xe0ԟ{\xf7\xf4\xe2\x94T", []string{"avx2", "avx512"}},
	{"FuzzCrossEntropy", findF32Huge, "\xd2yc\xc1\xb9U\x13\xc8\xdf0\x90Oy\x1cm?\xf3\x91eGƹ\xf5.\xe9<\xfe\xefHYD\x94\xbe\xd5\x03\x8f", []string{"avx2", "avx512"}},
	{"FuzzCrossEntropyProbs", findF32Huge, "n\x88\x19\xd0|ǆ\xf6*\xf2\xe7\xf9jf\xb7~`\xfe\\\xaa\x17\xed\xed\x9c\xef\x96z\xb9", []string{"avx2", "avx512"}},
	{"FuzzRegression", findF32Huge, "\xe6$\x15\x93\xef9)'\x97X\x85GnV\xddN\n]\x82\xe4\xb1\x1f\x12`Z\xd9\xc7f'>\xfd\xd2E\xed\xa2{ >xᑙ\xc8S\xd8\u008a|\x96\xc7\x01a\xa7\xc2\x7f\"\xbf\xc0|\xb8\xa4\xac?\xf8m\xc5\xf6d̜Ah\x00\xf0\x8c\x19\xc0\x88U\xd7\xf0\xf7\x90\xcd\xdf\xea\x1f:9\xa8)%t\\\x1b-\f\xb1ϧF\xc1\x03\xce`;<\x87\xd3\xedu~\xd2\xd1\xffmi\xe0f\xbeT\xe9V", []string{"avx2", "avx512"}}, // Huber x = −y = MaxFloat32: d overflows
	{"FuzzSoftmaxFocal", findF32Huge, "\xc4\xe2M\x94\xa1\xa9sb\f\xa6\x1e5\xa8r\xc2\xe2\xe6\x1aP!i\xf1\xbbN_\xf5\xfa+\xffe{\xe6\x19[>,qQ\xa5/\xc0\tm\x98\xe7\xf0\x8fZ\x98\xf5p\xae\xe1{Bu\xf15n\x87\xe0\x80\xce\x0e\x1b\x9b\xba\xbe}\xeaH\xb5\x90;Ð\xce#G*\xd6J\x89A\xc3${\xfd#ꐲ\xde\xe0\x90\x85W\x1b\xad\x85V\x80@\x10^\t\x8f\x99;\xb3~C\xc3\xe6\xd5\x11\x17\x1cw\xcf\xc4PW\r\xfb\x9fƣ\x93\x0e\xf4<\x03\xf8!?b\x03\xd5Eב\xc7\xd3\xfaB\xd5\xdd\xe1eP8\xd3\\]\xfa\xcc", []string{"avx2", "avx512"}},
	{"FuzzBCEWithLogits", findWeightOrder, "\x7f\xe3_d9\x1e}K0\xbe\x1cɃ\x19qe(\xcaO5\xbbu\xd7\xe5\\\xf7t\x99h\xc57\x13nݱI\xa9\xf9\x1cEo\xde", []string{"avx2", "avx512"}},
	{"FuzzCrossEntropy", findWeightOrder, "\xed\x98ۓ\x83\xedv\x193܌\u05f9\x7fߨ3y\xac\xfb?\x82k\xf8!\x1d\xb2Lh/n\x9f\x03\xb1\xc2I,0\xa3\x14c9|\b", []string{"avx2", "avx512"}},
	{"FuzzRegression", findWeightOrder, "\x93\a\x8f\xaf;\x9f.\xae\xf5\xb3\xaf\xedޘ\x160\xf8\x8c\x99\xa6V\x92", []string{"avx2", "avx512"}},
}

// TestKnownClasses proves that every known finding still misbehaves: its
// input fails the reference comparison on the backends named, and every
// violation there lies in that finding's class (it is the finding that
// excuses it), while the backends not named pass. The day a fix lands,
// this test fails: delete the finding's entry and its filter.
func TestKnownClasses(t *testing.T) {
	used := map[string]bool{}
	for _, kc := range knownClasses {
		used[kc.finding] = true
		t.Run(findingID(kc.finding)+"/"+kc.target, func(t *testing.T) {
			names := kernels.Backends()
			if !slices.ContainsFunc(kc.fails, func(b string) bool { return slices.Contains(names, b) }) {
				t.Skipf("none of %v on this CPU", kc.fails)
			}
			tl := newTally()
			if msgs := families[kc.target](newSource([]byte(kc.input))).failures(tl, kc.target); len(msgs) > 0 && !strict {
				t.Fatalf("fails outside the finding's class:\n%s", msgs[0])
			}
			for k, c := range tl.cells {
				failing := c.excusable[findingID(kc.finding)] > 0
				// The entries were found on amd64; elsewhere generic rounds
				// differently (arm64 fuses multiply-adds), so there only a
				// failure's class is checked.
				named := slices.Contains(kc.fails, k.backend) && runtime.GOARCH == "amd64"
				switch {
				case c.bare > 0:
					t.Errorf("%s, %s: a violation outside every class", k.backend, k.dtype)
				case named && len(c.excusable) > 0 && !failing:
					t.Errorf("%s, %s: excused by %v, want %s", k.backend, k.dtype, c.excusable, findingID(kc.finding))
				case named && !failing:
					t.Errorf("%s, %s: passes the reference comparison: has %s been fixed? Then delete its filter (known_test.go) and this entry", k.backend, k.dtype, findingID(kc.finding))
				case !slices.Contains(kc.fails, k.backend) && failing && runtime.GOARCH == "amd64":
					t.Errorf("%s, %s: fails too; add it to the entry's backends", k.backend, k.dtype)
				}
			}
		})
	}
	// Every finding known_test.go names has a proving input.
	for _, f := range []string{findWeightOrder, findHugeLogits, findFarFirstLogit, findSmoothL1Sq,
		findScaleSubnorm, findF32Huge} {
		if !used[f] {
			t.Errorf("no input proves that %q still fails", findingID(f))
		}
	}
}
