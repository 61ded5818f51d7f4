//go:build !unix

package httpapi

// processCPU is unknown here; benchmarks then report no CPU time.
func processCPU() int64 { return 0 }
