#!/usr/bin/env bash
# arm64 NEON backend: regenerate and diff, encoder tests, the kernels'
# test suites under qemu-aarch64 (neon and generic), cross-builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

if ! command -v qemu-aarch64 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
fi

echo "-- regenerate NEON assembly; it must match the commit"
(cd asmgen && go run ./cmd/neongen -out ../kernels/arm64)
git diff --exit-code -- kernels/arm64

echo "-- NEON encoder tests (GNU as encodings in asmgen/neon/testdata; re-checked against binutils when installed)"
(cd asmgen && go vet ./neon/ ./cmd/neongen/ && go test ./neon/)

# (.ci/run vets the main module for arm64 with and without purego.)
echo "-- kernels tests under qemu-aarch64: neon required, every backend run"
GOARCH=arm64 LOSSFUSE_TEST_REQUIRE_BACKEND=neon go test -exec qemu-aarch64 -short ./kernels/...
# The run above already tests every backend of the build, generic
# included; these two check what the cap and the tag change (dispatch, the
# default backend's semantics), not the whole suite again (~170 s of qemu).
echo "-- dispatch and semantics under qemu-aarch64 with LOSSFUSE_MAX_ISA=generic and with -tags purego"
GOARCH=arm64 LOSSFUSE_MAX_ISA=generic go test -exec qemu-aarch64 -short -run 'Dispatch|MaxISA|Backend|Article|Golden' ./kernels/
GOARCH=arm64 go test -exec qemu-aarch64 -short -tags purego -run 'Dispatch|MaxISA|Backend|Article|Golden' ./kernels/

echo "-- cross-builds (generic backend everywhere else)"
for target in darwin/arm64 linux/386 linux/riscv64 js/wasm; do
  GOOS=${target%/*} GOARCH=${target#*/} go build ./...
done
