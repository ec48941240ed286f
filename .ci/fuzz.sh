#!/usr/bin/env bash
# fuzz/: differential fuzzing of every kernel family on every backend against
# the float64 reference. The committed corpus runs as plain tests
# (natively, under -tags purego and, for the NEON backend, under
# qemu-aarch64), then fixed-seed random inputs, then every fuzz target for a
# bounded time natively. Every stage is a gate: a failure of the committed
# corpus, of the random inputs, a new finding of the fuzzing engine, or a
# target whose valid inputs are less than 90% value-checked (TestRandomInputs,
# TestCorpusChecked) fails CI. Triage an engine finding (docs/fuzzing.md):
# fix it, or narrow a known finding's class to it with a proving input in
# fuzz/known_classes_test.go, and commit the reproducer under
# fuzz/testdata/fuzz/<Target>/.
#
# LOSSFUSE_FUZZTIME (default 8s per target), LOSSFUSE_FUZZ_PARALLEL
# (default 2 workers) and LOSSFUSE_FUZZ_PARTS (default 2: each run gives the
# engine one of two rotating halves of the targets, by day of the year, so
# two runs cover them all; 1 takes every target) tune the engine's budget;
# LOSSFUSE_FUZZ_REPORT_ONLY=1 (local use) reports engine findings without
# failing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
fuzztime=${LOSSFUSE_FUZZTIME:-8s}
parallel=${LOSSFUSE_FUZZ_PARALLEL:-2}
parts=${LOSSFUSE_FUZZ_PARTS:-2}
part=$(( 10#$(date -u +%j) % parts ))

echo "-- committed corpus (and the seed generator's round trip, the known classes, the checked ratio), every backend of this CPU"
go test -count=1 ./fuzz
echo "-- committed corpus under -tags purego (generic only)"
go test -count=1 -tags purego ./fuzz

if [ -e kernels/dispatch_arm64.go ]; then
  if ! command -v qemu-aarch64 >/dev/null; then
    apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
  fi
  echo "-- committed corpus under qemu-aarch64 (neon and generic)"
  GOARCH=arm64 go test -count=1 -exec qemu-aarch64 ./fuzz
  # The fuzzing engine cannot start its workers under qemu-user, so the NEON
  # backend gets random inputs through the same checks instead.
  echo "-- 100 random inputs per target under qemu-aarch64"
  GOARCH=arm64 LOSSFUSE_FUZZ_RANDOM=100 LOSSFUSE_FUZZ_SEED="${GITHUB_RUN_NUMBER:-0}" \
    go test -count=1 -exec qemu-aarch64 -run TestRandomInputs ./fuzz
fi

# -v prints the value-check table (valid inputs, checked ratio, failures
# each known finding excused, per target, backend and type).
echo "-- 1000 fixed-seed random inputs per target, natively (every backend of this CPU)"
LOSSFUSE_FUZZ_RANDOM=1000 LOSSFUSE_FUZZ_SEED=0 go test -count=1 -v -run TestRandomInputs ./fuzz |
  grep -v -e '^=== RUN' -e '^    --- PASS'

echo "-- fuzzing targets for $fuzztime each ($parallel workers), part $part of $parts of the targets"
# A duration -fuzztime can end in "context deadline exceeded" with no
# failing input: a race in Go's fuzzing coordinator when the deadline
# fires while a worker runs a long input (golang/go#75804, fixed in Go
# 1.27). That is reported, not counted; a written input or any other
# failure is a finding.
findings=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
i=0
for target in $(go test -list '^Fuzz' ./fuzz | grep '^Fuzz' | sort); do
  i=$((i + 1))
  [ $(( (i - 1) % parts )) -eq "$part" ] || continue
  echo "   $target"
  before=$(ls "fuzz/testdata/fuzz/$target" 2>/dev/null | sort)
  if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -parallel="$parallel" ./fuzz 2>&1 | tee "$log"; then
    after=$(ls "fuzz/testdata/fuzz/$target" 2>/dev/null | sort)
    if [ "$before" = "$after" ] && grep -q 'context deadline exceeded' "$log"; then
      echo "   (the fuzzing coordinator's deadline race, golang/go#75804: no failing input; not a finding)"
      continue
    fi
    findings=$((findings + 1))
    echo "!! FUZZ FINDING in $target (input above, under fuzz/testdata/fuzz/$target/): triage it into docs/fuzzing.md"
  fi
done
echo "-- engine fuzzing: $findings target(s) with a new finding"
if [ "$findings" -gt 0 ] && [ "${LOSSFUSE_FUZZ_REPORT_ONLY:-0}" != 1 ]; then
  exit 1
fi
