//go:build amd64 && !purego

package kernels_test

import (
	"os"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// TestRequireBackend fails when LOSSFUSE_TEST_REQUIRE_BACKEND names a backend
// other than the one dispatch chose: CI sets it under qemu-x86_64 -cpu
// Haswell (avx2) and -cpu Nehalem (generic) to prove the CPU detection.
func TestRequireBackend(t *testing.T) {
	want := os.Getenv("LOSSFUSE_TEST_REQUIRE_BACKEND")
	info := kernels.CPUInfo()
	t.Logf("backend %s; supported %v; CPU %q %v", info.Backend, info.Supported, info.Name, info.Features)
	if want == "" {
		t.Skip("LOSSFUSE_TEST_REQUIRE_BACKEND not set")
	}
	if got := kernels.Backend(); got != want {
		t.Fatalf("backend %q selected, want %q (CPU features %v)", got, want, info.Features)
	}
}
