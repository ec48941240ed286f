//go:build !linux

package main

// threadCPUNow is not available here; lossbench uses the wall clock.
func threadCPUNow() (int64, bool) { return 0, false }
