// Package logtest holds what tests use to watch a program's output: a
// buffer that loggers and writers on several goroutines may write to while
// the test reads it.
package logtest

import (
	"strings"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use; String returns all that
// was written so far. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
