package kernels

import "github.com/klauspost/cpuid/v2"

// CPU describes the processor and the backend choice, for benchmark
// reports and bug reports.
type CPU struct {
	Backend   string   // the backend in use (Backend())
	Supported []string // backends this CPU runs (Backends())
	Compiled  []string // backends compiled into this binary (BackendNames())
	Name      string   // brand string, e.g. "AMD EPYC 7B13" (may be empty)
	Vendor    string
	Family    int
	Model     int
	Cores     int      // physical cores (0 if unknown)
	Threads   int      // logical processors
	Features  []string // feature flags as cpuid names them (AVX2, FMA3, AVX512F, …)
}

// CPUInfo reports the processor (from github.com/klauspost/cpuid/v2) and the
// backends. The backend choice itself uses golang.org/x/sys/cpu.
func CPUInfo() CPU {
	c := &cpuid.CPU
	return CPU{
		Backend:   Backend(),
		Supported: Backends(),
		Compiled:  BackendNames(),
		Name:      c.BrandName,
		Vendor:    c.VendorString,
		Family:    c.Family,
		Model:     c.Model,
		Cores:     c.PhysicalCores,
		Threads:   c.LogicalCores,
		Features:  c.FeatureSet(),
	}
}
