#!/usr/bin/env bash
# Issue 20's cells: lossfuse (go test -bench, avx512 and avx2) beside the
# hand-written AVX-512 C kernels of cbench.c, in one run on this machine,
# alternating the two programs ROUNDS times; the table gives the median
# ns/elem of each and C's time over lossfuse's (above 1: lossfuse faster).
#
#	bash tools/cbench/run.sh [ROUNDS]    # default 3; needs gcc and AVX-512
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gcc -O3 -march=native -o "$tmp/cbench" tools/cbench/cbench.c -lm
go test -c -o "$tmp/bench.test" ./bench
cells='^Benchmark(CrossEntropy|BCEWithLogits|SigmoidFocal|MSE)$/op=(fwd|fwdbwd)/dtype=f32/isa=(avx2|avx512)/n=(4096|1024|256|64)/k=(10|1000|32000|128256|256)$'
for r in $(seq "$rounds"); do
	echo "round $r of $rounds" >&2
	"$tmp/cbench" -ms 150 -reps 5 > "$tmp/c.$r" 2> "$tmp/cerr.$r"
	(cd bench && "$tmp/bench.test" -test.run '^$' -test.bench "$cells" -test.benchtime 150ms) > "$tmp/go.$r"
done

# One line per measurement: "<cell> <impl> <ns/elem>".
{
	cat "$tmp"/c.* | awk '{print $1, "C", $2}'
	cat "$tmp"/go.* | awk '/^Benchmark/ {
		split($1, p, "/"); sub(/^Benchmark/, "", p[1]); sub(/^op=/, "", p[2]); sub(/^isa=/, "", p[4])
		sub(/^n=/, "", p[5]); sub(/^k=/, "", p[6]); sub(/-[0-9]+$/, "", p[6])
		for (i = 2; i < NF; i++) if ($(i+1) == "elems/s") print p[1] "/" p[2] "/" p[5] "x" p[6], p[4], 1e9 / $i
	}'
} > "$tmp/all"

echo "| cell | C AVX-512 | lossfuse avx512 | C / avx512 | lossfuse avx2 | C / avx2 |"
echo "|---|---|---|---|---|---|"
awk '
	{ v[$1 " " $2] = v[$1 " " $2] " " $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
	function median(s,   a, m, i, j, t) {
		m = split(s, a, " ")
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= n; i++) {
			c = order[i]
			if (!((c " C") in v)) continue
			mc = median(v[c " C"]); m5 = median(v[c " avx512"]); m2 = median(v[c " avx2"])
			printf "| %s | %.3f | %.3f | %.2f× | %.3f | %.2f× |\n", c, mc, m5, mc / m5, m2, mc / m2
		}
	}' "$tmp/all"
echo
echo "C kernels against a scalar double-precision loop (round 1):"
sed 's/^/    /' "$tmp/cerr.1"
