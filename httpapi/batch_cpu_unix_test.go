//go:build unix

package httpapi

import "syscall"

// processCPU returns the CPU time this process has used (user and
// system, all threads, the garbage collector's too), in nanoseconds:
// benchmarks report it beside wall time because the machine's cores are
// shared and wall time counts the waits for them.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
