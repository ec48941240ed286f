#!/usr/bin/env bash
# bench/ and cmd/lossbench: every benchmark compiles and the 4096-row ones
# (which cover every kernel, op, dtype and backend) run once; then a smoke
# run of lossbench in text, JSON and plot form. About half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The -bench pattern matches per name level: Benchmark<Kernel>/op/dtype/isa/n/k.
go test -run '^$' -bench './///^n=4096$' -benchtime 1x ./bench | tee "$tmp/bench.txt" | tail -n 3
count=$(grep -c '^Benchmark' "$tmp/bench.txt")
echo "$count sub-benchmarks ran"
if [ "$count" -lt 100 ]; then
  echo "expected at least 100 sub-benchmarks (17 kernels × ops × 2 dtypes × backends)" >&2
  exit 1
fi

go build -o "$tmp/lossbench" ./cmd/lossbench
"$tmp/lossbench" -shapes 64x100 -duration 5ms -reps 3 -dtype f32,f64 -op fwd,fwdbwd -plot "$tmp/plot.svg" \
  > "$tmp/report.txt" 2> "$tmp/progress.txt" || { cat "$tmp/progress.txt" >&2; exit 1; }
# Accuracy is enforced by the kernel tests; here a violation is only shown.
grep -A1 'outside the accuracy contract' "$tmp/progress.txt" >&2 || true
grep -q 'CrossEntropy  op=fwdbwd dtype=f64' "$tmp/report.txt"
grep -q '<svg' "$tmp/plot.svg"
"$tmp/lossbench" -kernels CrossEntropy -shapes 16x10,16x1000 -duration 2ms -reps 3 -bandwidth=false -json \
  > "$tmp/report.json" 2> "$tmp/progress.txt" || { cat "$tmp/progress.txt" >&2; exit 1; }
grep -q '"results"' "$tmp/report.json"
if "$tmp/lossbench" -kernels NoSuchKernel 2> "$tmp/err.txt"; then
  echo "lossbench accepted an unknown kernel" >&2
  exit 1
fi
grep -q 'unknown kernel' "$tmp/err.txt"
head -n 20 "$tmp/report.txt"
