package httpapi

import (
	"context"
	"sync"
	"time"
)

// RateLimiter decides whether one more attempt under key is allowed. The
// in-memory MemoryLimiter serves one process; a Redis implementation can
// serve a cluster.
type RateLimiter interface {
	// Allow counts an attempt under key and reports whether it is within
	// the limit. An error means the limiter is down; callers let the
	// request through rather than lock everyone out.
	Allow(ctx context.Context, key string) (bool, error)
}

// MemoryLimiter allows a number of attempts per key in fixed windows.
type MemoryLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*limitWindow
	sweep   time.Time
}

type limitWindow struct {
	start time.Time
	n     int
}

// NewMemoryLimiter returns a limiter of limit attempts per window and key;
// now defaults to time.Now.
func NewMemoryLimiter(limit int, window time.Duration, now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{limit: limit, window: window, now: now, windows: map[string]*limitWindow{}}
}

// Allow implements RateLimiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string) (bool, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > l.window {
		// Forget finished windows, so the map holds only recent keys.
		for k, w := range l.windows {
			if now.Sub(w.start) >= l.window {
				delete(l.windows, k)
			}
		}
		l.sweep = now
	}
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &limitWindow{start: now}
		l.windows[key] = w
	}
	w.n++
	return w.n <= l.limit, nil
}
