#!/usr/bin/env bash
# The minimum Go version: every go.mod states the same one, and the module
# builds, vets and passes its short tests with exactly that toolchain
# (fetched through the module proxy), not only with the newest Go.
set -euo pipefail
cd "$(dirname "$0")/.."

min=$(awk '$1 == "go" {print $2; exit}' go.mod)
for mod in asmgen/go.mod examples/go.mod; do
  v=$(awk '$1 == "go" {print $2; exit}' "$mod")
  if [ "$v" != "$min" ]; then
    echo "$mod says go $v, go.mod says go $min: state one minimum" >&2
    exit 1
  fi
done
grep -q "Go ≥ ${min%.0}" README.md || { echo "README does not state Go ≥ ${min%.0}" >&2; exit 1; }

export GOTOOLCHAIN=go$min
echo "-- go $min: $(go version)"
go vet ./...
go test -short -count=1 ./kernels/... ./reference ./fuzz
