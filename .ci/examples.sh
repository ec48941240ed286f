#!/usr/bin/env bash
# The examples module (its own go.mod: gonum, gorgonia): vet and tests.
# Its data is committed under examples/testdata; only Go modules are fetched.
set -euo pipefail
cd "$(dirname "$0")/../examples"
# -mod=mod: the examples build the library from ../ (replace), so a new
# dependency of the library must not fail this part before examples/go.sum
# catches up; say so instead, so that someone runs `go mod tidy` here.
export GOFLAGS="${GOFLAGS:-} -mod=mod"
go vet ./...
go test ./...
if ! git diff --quiet -- go.mod go.sum; then
  echo "note: examples/go.mod or go.sum is out of date; run 'cd examples && go mod tidy'" >&2
fi
