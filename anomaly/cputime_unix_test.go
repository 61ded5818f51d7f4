//go:build unix

package anomaly

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of the process, so a
// benchmark on a shared machine can report throughput per CPU second as
// well as per wall second.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
