// Package fuzz holds lossfuse's differential fuzz targets (in its test
// files): every kernel family, on every backend the CPU supports, against
// the float64 reference and its accuracy contract (package reference).
// See docs/fuzzing.md for the targets, how to run them for longer, the
// seed corpus and the findings.
package fuzz
