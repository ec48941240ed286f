// Command mutate is lossfuse's standing mutation test (issue 13): it applies
// each deliberate mutant in the table (mutants.go) to a private copy of the
// committed tree, regenerates the assembly when the mutant is in a
// generator, runs the mutant's tests there, and fails when a mutant
// survives (builds and passes every test) or is void (its anchor is missing
// or ambiguous, it does not build, or its regenerated assembly equals the
// original).
//
// The working tree is never touched: every run extracts `git archive REV`
// into a temporary directory and deletes it afterwards.
//
//	go run ./tools/mutate [-backend generic|avx2|avx512|neon] [-only id[,id]]
//	    [-subset i/n] [-list] [-check] [-rev HEAD] [-keep] [-v]
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// live holds the temporary copies in use, removed on an interrupt too.
var live = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func removeOnInterrupt() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	go func() {
		<-c
		live.Lock()
		for d := range live.dirs {
			os.RemoveAll(d)
		}
		fmt.Fprintln(os.Stderr, "mutate: interrupted")
		os.Exit(130)
	}()
}

func main() {
	var (
		backend  = flag.String("backend", "", "only mutants of this backend (generic, avx2, avx512, neon); default all this machine can test")
		only     = flag.String("only", "", "only these mutant ids (comma-separated)")
		subset   = flag.String("subset", "", "i/n: only every n-th selected mutant, starting at i (0 ≤ i < n)")
		list     = flag.Bool("list", false, "print the mutant table (markdown) and exit")
		check    = flag.Bool("check", false, "only check that every anchor occurs exactly once in the working tree")
		rev      = flag.String("rev", "HEAD", "git revision to mutate")
		keep     = flag.Bool("keep", false, "keep the temporary copies (for debugging)")
		verbose  = flag.Bool("v", false, "print the test output of every command")
		baseline = flag.String("baseline", "catching", "check the tests against the unmutated copy: catching (the tests that caught a mutant must pass there), full (first run every selected test command there), off")
	)
	flag.Parse()
	if *list {
		fmt.Print(Table())
		return
	}
	root, err := repoRoot()
	if err != nil {
		fatalf("%v", err)
	}
	if *check {
		bad := 0
		for _, m := range mutants {
			if err := m.anchor(func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(root, p)) }); err != nil {
				fmt.Println(err)
				bad++
			}
		}
		if bad > 0 {
			fatalf("%d of %d mutants have a missing or ambiguous anchor", bad, len(mutants))
		}
		fmt.Printf("all %d anchors occur exactly once\n", len(mutants))
		return
	}
	sel, err := selectMutants(*backend, *only, *subset)
	if err != nil {
		fatalf("%v", err)
	}
	if len(sel) == 0 {
		fatalf("no mutant selected")
	}
	// The commit, resolved once: every copy is of the same tree even if
	// HEAD moves during the run.
	out, err := exec.Command("git", "-C", root, "rev-parse", "--verify", *rev+"^{commit}").Output()
	if err != nil {
		fatalf("-rev %s: %v", *rev, err)
	}
	commit := strings.TrimSpace(string(out))
	r := &runner{root: root, rev: commit, keep: *keep, verbose: *verbose}
	removeOnInterrupt()
	fmt.Printf("mutate: %d mutants of %s at %s %.12s (%s/%s, %s)\n", len(sel), r.root, *rev, commit, runtime.GOOS, runtime.GOARCH, cpuName())
	start := time.Now()
	switch *baseline {
	case "full":
		if err := r.baseline(sel); err != nil {
			fatalf("baseline: %v", err)
		}
	case "catching":
		r.confirmed = map[string]error{}
	case "off":
	default:
		fatalf("-baseline %q: want catching, full or off", *baseline)
	}
	var survivors, voids []string
	for i, m := range sel {
		fmt.Printf("[%d/%d] %-28s ", i+1, len(sel), m.ID)
		t0 := time.Now()
		res := r.run(m)
		fmt.Printf("%-8s %5.1fs  %s\n", res.status, time.Since(t0).Seconds(), res.detail)
		switch res.status {
		case survived:
			survivors = append(survivors, m.ID)
		case void:
			voids = append(voids, m.ID)
		}
	}
	if r.base != "" {
		r.cleanup(r.base)
	}
	fmt.Printf("mutate: %d mutants, %d caught, %d survived, %d void, %.0fs\n",
		len(sel), len(sel)-len(survivors)-len(voids), len(survivors), len(voids), time.Since(start).Seconds())
	if len(survivors)+len(voids) > 0 {
		if len(survivors) > 0 {
			fmt.Printf("SURVIVORS: %s\n", strings.Join(survivors, " "))
		}
		if len(voids) > 0 {
			fmt.Printf("VOID: %s\n", strings.Join(voids, " "))
		}
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutate: "+format+"\n", args...)
	os.Exit(2)
}

// repoRoot is the top of the git work tree holding the current directory.
func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("not in a git work tree: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// selectMutants filters the table by backend, ids and subset. Without
// -backend it takes every backend this machine can test: all of them on
// amd64 (neon under qemu-aarch64), neon and generic on arm64.
func selectMutants(backend, only, subset string) ([]Mutant, error) {
	ids := map[string]bool{}
	for _, id := range strings.Split(only, ",") {
		if id != "" {
			ids[id] = true
		}
	}
	for id := range ids {
		if _, ok := byID(id); !ok {
			return nil, fmt.Errorf("-only: no mutant %q (see -list)", id)
		}
	}
	if backend != "" && !validBackend(backend) {
		return nil, fmt.Errorf("-backend %q: want one of %v", backend, backends)
	}
	var sel []Mutant
	for _, m := range mutants {
		switch {
		case len(ids) > 0 && !ids[m.ID]:
		case backend != "" && m.Backend != backend:
		case backend == "" && len(ids) == 0 && !testable(m.Backend):
		default:
			sel = append(sel, m)
		}
	}
	if subset != "" {
		i, n, ok := strings.Cut(subset, "/")
		ii, err1 := strconv.Atoi(i)
		nn, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || nn <= 0 || ii < 0 || ii >= nn {
			return nil, fmt.Errorf("-subset %q: want i/n with 0 ≤ i < n", subset)
		}
		var part []Mutant
		for j, m := range sel {
			if j%nn == ii {
				part = append(part, m)
			}
		}
		sel = part
	}
	return sel, nil
}

func validBackend(b string) bool {
	for _, v := range backends {
		if v == b {
			return true
		}
	}
	return false
}

// testable reports whether this machine can run b's tests: the amd64
// backends need the instructions, neon needs arm64 or qemu-aarch64.
func testable(b string) bool {
	switch b {
	case "generic":
		return true
	case "avx2":
		return runtime.GOARCH == "amd64" && cpuHas("avx2", "fma")
	case "avx512":
		return runtime.GOARCH == "amd64" && cpuHas("avx512f", "avx512dq", "avx512bw", "avx512vl")
	case "neon":
		if runtime.GOARCH == "arm64" {
			return true
		}
		_, err := exec.LookPath("qemu-aarch64")
		return err == nil
	}
	return false
}

// cpuHas reads the flags of /proc/cpuinfo (Linux; elsewhere it reports
// false and the amd64 mutants must be asked for with -backend).
func cpuHas(flags ...string) bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		have := map[string]bool{}
		for _, f := range strings.Fields(v) {
			have[f] = true
		}
		for _, f := range flags {
			if !have[f] {
				return false
			}
		}
		return true
	}
	return false
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// ---- one mutant ----

type status string

const (
	caught   status = "caught"
	survived status = "SURVIVED"
	void     status = "VOID"
)

type result struct {
	status status
	detail string
}

type runner struct {
	root, rev     string
	keep, verbose bool

	// With -baseline=catching: the unmutated copy (made on first use) and
	// the result there of each catching test command, by name and pattern.
	base      string
	confirmed map[string]error
}

// anchor checks that m.Find occurs exactly once in m.File as read by read.
func (m Mutant) anchor(read func(string) ([]byte, error)) error {
	src, err := read(m.File)
	if err != nil {
		return fmt.Errorf("%s: %v", m.ID, err)
	}
	switch c := bytes.Count(src, []byte(m.Find)); c {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("%s: anchor not found in %s: %q", m.ID, m.File, m.Find)
	default:
		return fmt.Errorf("%s: anchor occurs %d times in %s: %q", m.ID, c, m.File, m.Find)
	}
}

// copyTree extracts r.rev into a new temporary directory.
func (r *runner) copyTree(tag string) (string, error) {
	dir, err := os.MkdirTemp("", "lossfuse-mut-"+strings.NewReplacer("/", "_", ".", "_").Replace(tag)+"-")
	if err != nil {
		return "", err
	}
	live.Lock()
	live.dirs[dir] = true
	live.Unlock()
	archive := exec.Command("git", "-C", r.root, "archive", "--format=tar", r.rev)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	untar.Stdin = pipe
	var e1, e2 bytes.Buffer
	archive.Stderr, untar.Stderr = &e1, &e2
	if err := untar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %v: %s", r.rev, err, e1.String())
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("tar: %v: %s", err, e2.String())
	}
	return dir, nil
}

func (r *runner) cleanup(dir string) {
	if r.keep {
		fmt.Printf("(kept %s) ", dir)
		return
	}
	os.RemoveAll(dir)
	live.Lock()
	delete(live.dirs, dir)
	live.Unlock()
}

func (r *runner) run(m Mutant) result {
	dir, err := r.copyTree(m.ID)
	if err != nil {
		return result{void, err.Error()}
	}
	defer r.cleanup(dir)
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, p)) }
	if err := m.anchor(read); err != nil {
		return result{void, err.Error()}
	}
	path := filepath.Join(dir, m.File)
	src, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(src, []byte(m.Find), []byte(m.Replace()), 1), 0o644); err != nil {
		return result{void, err.Error()}
	}
	if g := generatorOf(m.File); g != nil {
		before, err := hashDir(filepath.Join(dir, g.outDir))
		if err != nil {
			return result{void, err.Error()}
		}
		if out, err := r.sh(dir, g.dir, nil, g.cmd...); err != nil {
			return result{void, "regeneration failed: " + lastLines(out, 5)}
		}
		after, err := hashDir(filepath.Join(dir, g.outDir))
		if err != nil {
			return result{void, err.Error()}
		}
		if before == after {
			return result{void, "the regenerated assembly equals the original: the mutant changes nothing"}
		}
	}
	for _, t := range m.tests() {
		bin, out, err := r.build(dir, t)
		if err != nil {
			return result{void, "does not build (" + t.Name + "): " + lastLines(out, 5)}
		}
		out, err = r.exec(dir, t, bin)
		if err != nil {
			tops, _ := failedTests(out)
			if err := r.confirm(t, tops); err != nil {
				return result{void, err.Error()}
			}
			return result{caught, "by " + t.Name + ": " + failures(out)}
		}
	}
	return result{survived, "passed " + testNames(m.tests())}
}

// confirm runs the tests that caught a mutant (tops, or all of t when the
// output names none, as after a fatal signal) on the unmutated copy: a
// test that fails there too would "catch" every mutant. This is the part
// of -baseline=full that decides a result, at a fraction of its cost.
func (r *runner) confirm(t Test, tops []string) error {
	if r.confirmed == nil {
		return nil
	}
	if len(tops) > 0 {
		quoted := make([]string, len(tops))
		for i, name := range tops {
			quoted[i] = regexp.QuoteMeta(name)
		}
		t.Args = append(append([]string(nil), t.Args...), "-test.run", "^("+strings.Join(quoted, "|")+")$")
	}
	key := t.Name + " " + strings.Join(t.Args, " ")
	if err, ok := r.confirmed[key]; ok {
		return err
	}
	err := r.runUnmutated(t)
	r.confirmed[key] = err
	return err
}

func (r *runner) runUnmutated(t Test) error {
	if r.base == "" {
		dir, err := r.copyTree("baseline")
		if err != nil {
			return err
		}
		r.base = dir
	}
	bin, out, err := r.build(r.base, t)
	if err != nil {
		return fmt.Errorf("%s does not build on the unmutated tree: %s", t.Name, lastLines(out, 5))
	}
	if out, err := r.exec(r.base, t, bin); err != nil {
		return fmt.Errorf("the catching tests fail on the unmutated tree too (%s %s): %s",
			t.Name, strings.Join(t.Args, " "), failures(out))
	}
	return nil
}

// baseline runs every distinct test command of sel on an unmutated copy:
// a command that fails there would "catch" every mutant.
func (r *runner) baseline(sel []Mutant) error {
	seen := map[string]bool{}
	var ts []Test
	for _, m := range sel {
		for _, t := range m.tests() {
			if !seen[t.Name] {
				seen[t.Name] = true
				ts = append(ts, t)
			}
		}
	}
	dir, err := r.copyTree("baseline")
	if err != nil {
		return err
	}
	defer r.cleanup(dir)
	for _, t := range ts {
		t0 := time.Now()
		fmt.Printf("baseline %-40s ", t.Name)
		bin, out, err := r.build(dir, t)
		if err != nil {
			fmt.Println("BUILD FAILED")
			return fmt.Errorf("%s does not build on the unmutated tree:\n%s", t.Name, lastLines(out, 20))
		}
		out, err = r.exec(dir, t, bin)
		if err != nil {
			fmt.Println("FAILED")
			return fmt.Errorf("%s fails on the unmutated tree:\n%s", t.Name, lastLines(out, 30))
		}
		fmt.Printf("ok %5.1fs\n", time.Since(t0).Seconds())
	}
	return nil
}

// build compiles t's test binary into the copy (once per package, GOARCH
// and tags); -trimpath lets every copy share the build cache.
func (r *runner) build(dir string, t Test) (string, []byte, error) {
	goarch := t.goarch()
	name := strings.ReplaceAll(strings.Trim(t.Pkg, "./"), "/", "_") + "." + goarch + strings.ReplaceAll(t.Tags, ",", "_") + ".test"
	bin := filepath.Join(dir, ".mutate-bin", name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil, nil
	}
	args := []string{"test", "-c", "-trimpath", "-o", bin}
	if t.Tags != "" {
		args = append(args, "-tags", t.Tags)
	}
	args = append(args, t.Pkg)
	out, err := r.sh(dir, ".", []string{"GOARCH=" + goarch}, append([]string{"go"}, args...)...)
	if err == nil {
		if _, serr := os.Stat(bin); serr != nil {
			return "", out, fmt.Errorf("no test binary for %s (no test files?)", t.Pkg)
		}
	}
	return bin, out, err
}

// exec runs the test binary in its package directory (tests read testdata
// relative to it), under qemu-aarch64 for arm64 on another host.
func (r *runner) exec(dir string, t Test, bin string) ([]byte, error) {
	cmd := []string{bin, "-test.count=1", "-test.failfast"}
	if t.goarch() != runtime.GOARCH {
		if t.goarch() != "arm64" {
			return nil, fmt.Errorf("cannot run GOARCH=%s here", t.goarch())
		}
		cmd = append([]string{"qemu-aarch64"}, cmd...)
	}
	cmd = append(cmd, t.Args...)
	return r.sh(dir, t.Pkg, t.Env, cmd...)
}

func (r *runner) sh(dir, sub string, env []string, argv ...string) ([]byte, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = filepath.Join(dir, sub)
	c.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	c.Env = append(c.Env, env...)
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	if r.verbose {
		fmt.Printf("\n$ (cd %s && %s %s)\n", sub, strings.Join(env, " "), strings.Join(argv, " "))
		c.Stdout = io2(&buf)
		c.Stderr = c.Stdout
	}
	err := c.Run()
	return buf.Bytes(), err
}

// io2 tees to standard output.
func io2(b *bytes.Buffer) *tee { return &tee{b} }

type tee struct{ b *bytes.Buffer }

func (t *tee) Write(p []byte) (int, error) {
	os.Stdout.Write(p)
	return t.b.Write(p)
}

func hostArch() string { return runtime.GOARCH }

// ---- generators ----

type generator struct {
	dir    string   // where to run cmd, relative to the tree
	cmd    []string // the regeneration command
	outDir string   // the generated files
}

// generatorOf returns the generator that turns file into assembly, or nil
// for a file that is compiled as it is.
func generatorOf(file string) *generator {
	switch {
	case strings.HasPrefix(file, "asmgen/amd64/"), strings.HasPrefix(file, "asmgen/internal/"):
		return &generator{".", []string{"go", "generate", "./kernels/amd64"}, "kernels/amd64"}
	case strings.HasPrefix(file, "asmgen/cmd/neongen/"), strings.HasPrefix(file, "asmgen/neon/"):
		return &generator{"asmgen", []string{"go", "run", "./cmd/neongen", "-out", "../kernels/arm64"}, "kernels/arm64"}
	}
	return nil
}

// hashDir hashes the names and contents of the files under dir.
func hashDir(dir string) (string, error) {
	h := sha256.New()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// ---- output ----

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// failures names the failing top-level tests of a test binary's output
// and the first failing leaf test.
func failures(out []byte) string {
	tops, leaf := failedTests(out)
	if len(tops) == 0 {
		s := lastLines(out, 3)
		if s == "" {
			return "(no output)"
		}
		return strings.ReplaceAll(s, "\n", " | ")
	}
	return strings.Join(tops, ",") + " (first: " + leaf + ")"
}

// failedTests returns the failing top-level tests of a test binary's
// output, in order, and the deepest failing test.
func failedTests(out []byte) (tops []string, leaf string) {
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "--- FAIL: ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		if leaf == "" || strings.Count(name, "/") > strings.Count(leaf, "/") {
			leaf = name
		}
		top, _, _ := strings.Cut(name, "/")
		if !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	return tops, leaf
}

func testNames(ts []Test) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	return strings.Join(s, ", ")
}
