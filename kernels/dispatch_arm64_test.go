//go:build arm64 && !purego

package kernels

import (
	"os"
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/kernels/arm64"
)

// TestNeonDispatch checks that the NEON backend is registered, chosen when
// nothing caps it, and capped by LOSSFUSE_MAX_ISA=generic. With
// LOSSFUSE_TEST_REQUIRE_BACKEND=neon (CI under qemu-aarch64) a CPU without
// Advanced SIMD is a failure rather than a skip.
func TestNeonDispatch(t *testing.T) {
	if !slices.Contains(BackendNames(), "neon") {
		t.Fatalf("neon not registered: %v", BackendNames())
	}
	if !arm64.Supported() {
		if os.Getenv("LOSSFUSE_TEST_REQUIRE_BACKEND") == "neon" {
			t.Fatal("LOSSFUSE_TEST_REQUIRE_BACKEND=neon but the CPU reports no Advanced SIMD")
		}
		t.Skip("no Advanced SIMD")
	}
	if got, _ := choose(""); got.name != "neon" {
		t.Errorf("choose(\"\") = %s, want neon", got.name)
	}
	if got, _ := choose("generic"); got.name != "generic" {
		t.Errorf("choose(\"generic\") = %s, want generic", got.name)
	}
	want := "neon"
	if os.Getenv(MaxISAEnv) == "generic" {
		want = "generic"
	}
	if Backend() != want {
		t.Errorf("Backend() = %s with %s=%q, want %s", Backend(), MaxISAEnv, os.Getenv(MaxISAEnv), want)
	}
}
