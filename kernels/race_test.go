//go:build race

package kernels_test

// raceEnabled: the race detector makes sync.Pool drop a quarter of what is
// put back (to shake out misuse), so allocation counts are not meaningful.
const raceEnabled = true
