#!/usr/bin/env bash
# Standing mutation test (issue 13, docs/mutation.md): deliberate bugs in
# every backend (generated assembly through its generator) must each make
# a test fail. The whole table takes longer than CI should, so each run
# takes one of LOSSFUSE_MUTATE_PARTS rotating parts (by day of the year);
# LOSSFUSE_MUTATE_PARTS=1 runs them all. A surviving or void mutant fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

if ! command -v qemu-aarch64 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
fi

echo "-- the table: anchors present and unique, every kind on every backend, docs in step"
go test -count=1 ./tools/mutate

parts=${LOSSFUSE_MUTATE_PARTS:-8}
part=$(( 10#$(date -u +%j) % parts ))
echo "-- mutants, part $part of $parts (day $(date -u +%j))"
go run ./tools/mutate -subset "$part/$parts"
