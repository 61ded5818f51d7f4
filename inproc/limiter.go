package inproc

import (
	"sync"
	"time"
)

// LimiterConfig configures a Limiter. Its zero value allows 10 events per
// key per minute.
type LimiterConfig struct {
	// Limit is how many events a key may have in a burst, and per Window on
	// average. Defaults to 10.
	Limit int
	// Window is the time in which a key regains Limit events. Defaults to
	// one minute.
	Window time.Duration
}

// Limiter is a token-bucket rate limiter keyed by string (an e-mail address,
// a client IP), inside one process. Each key starts with Limit tokens and
// regains them evenly over Window, so a client that waits is never locked
// out longer than needed. Idle keys are forgotten, so memory follows the
// number of recently active keys.
type Limiter struct {
	limit  float64
	window time.Duration
	rate   float64 // tokens per nanosecond

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastPrune time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a Limiter with every key at its full allowance.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Limit <= 0 {
		cfg.Limit = 10
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	return &Limiter{
		limit:   float64(cfg.Limit),
		window:  cfg.Window,
		rate:    float64(cfg.Limit) / float64(cfg.Window),
		buckets: make(map[string]*bucket),
	}
}

// Allow reports whether key may have one more event at now, and if so
// takes one token from it.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.limit, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.limit, b.tokens+float64(d)*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets keys that have been idle long enough to be full again; it
// runs at most once per window so that Allow stays O(1) on average.
func (l *Limiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) < l.window {
		return
	}
	l.lastPrune = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= l.window {
			delete(l.buckets, k)
		}
	}
}
