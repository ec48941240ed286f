#!/usr/bin/env bash
# amd64 backend: the committed assembly must match the generator, vet must
# pass, and the test binary must pick the right backend and pass on CPUs
# this machine is not (qemu-x86_64 -cpu Haswell: avx2; -cpu Nehalem: generic).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "-- regenerate kernels/amd64 and compare with the commit"
go generate ./kernels/amd64
if [ -n "$(git status --porcelain -- kernels/amd64)" ]; then
  git status --porcelain -- kernels/amd64
  git diff --stat -- kernels/amd64
  echo "generated amd64 assembly differs from the commit: run go generate ./kernels/amd64" >&2
  exit 1
fi

# (.ci/run vets the main module for amd64 with and without purego.)
echo "-- vet and test the asmgen module"
(cd asmgen && go vet ./... && go test ./internal/...)

# All 2^32 float32 patterns take about 4 minutes here; each run takes one
# of four rotating ranges (by day of the year), so four runs cover them all.
# LOSSFUSE_TEST_EXHAUSTIVE=1 runs all of them at once.
parts=4
exhaustive=${LOSSFUSE_TEST_EXHAUSTIVE:-$(( 10#$(date -u +%j) % parts ))/$parts}
echo "-- 16-bit conversions: float32 patterns exhaustively, range $exhaustive of 2^32 (the default run takes a dense sample)"
LOSSFUSE_TEST_EXHAUSTIVE=$exhaustive go test -count=1 -run 'TestNarrow$|TestHalfNarrowPatterns' ./kernels/internal/half ./kernels

echo "-- exp/log ULP sweep (dense)"
go test -count=1 -run 'ULP|Special' -v ./kernels/amd64 | grep -E 'worst|^(ok|FAIL|---)'

if ! command -v qemu-x86_64 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/kernels.test" ./kernels
go test -c -o "$tmp/amd64.test" ./kernels/amd64
# Tests read testdata relative to the package directory.
run() { (cd kernels && "$@"); }

# The Nehalem run goes beside the Haswell ones (each qemu-user process is
# one core; .ci/arm64.sh, run beside this script, ends first).
echo "-- qemu-x86_64 -cpu Haswell: must select avx2; -cpu Nehalem: must select generic (side by side)"
run env LOSSFUSE_TEST_REQUIRE_BACKEND=generic \
  qemu-x86_64 -cpu Nehalem "$tmp/kernels.test" -test.short -test.count=1 > "$tmp/nehalem.log" 2>&1 &
nehalem=$!
trap 'kill "$nehalem" 2>/dev/null || true; rm -rf "$tmp"' EXIT # a failed Haswell run ends it
# qemu emulates VMASKMOVPS loads full-width, so avx2's masked tails fault on
# guard pages there (hardware never does): the guard test detects that and
# skips avx2's guard runs by itself (docs/amd64.md), so this is the command
# the docs give.
run env LOSSFUSE_TEST_REQUIRE_BACKEND=avx2 \
  qemu-x86_64 -cpu Haswell "$tmp/kernels.test" -test.short -test.count=1
(cd kernels/amd64 && qemu-x86_64 -cpu Haswell "$tmp/amd64.test" -test.short -test.count=1)
nehalem_rc=0
wait $nehalem || nehalem_rc=$?
echo "-- qemu-x86_64 -cpu Nehalem (its output)"
cat "$tmp/nehalem.log"
if [ $nehalem_rc -ne 0 ]; then
  echo "the Nehalem run failed (exit $nehalem_rc)" >&2
  exit 1
fi
echo "-- natively: the best backend of this CPU is the default; LOSSFUSE_MAX_ISA caps it"
best=generic
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then best=avx2; fi
if [ $best = avx2 ] && grep -qw avx512f /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo &&
   grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo; then best=avx512; fi
run env LOSSFUSE_TEST_REQUIRE_BACKEND=$best "$tmp/kernels.test" -test.run 'RequireBackend|Golden|Article' -test.count=1
if [ $best != generic ]; then
  run env LOSSFUSE_MAX_ISA=avx2 LOSSFUSE_TEST_REQUIRE_BACKEND=avx2 "$tmp/kernels.test" -test.run 'RequireBackend|Golden' -test.count=1
fi
