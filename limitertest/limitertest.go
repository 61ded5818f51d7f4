// Package limitertest is the rate limiter specification that every
// limiter implementation (inproc, redis) runs in its tests: a token bucket
// of Limit per Window with a burst of Limit, independent keys, the
// defaults of a zero config, uneven refill intervals, and exactly Limit
// allowed among concurrent callers on two replicas.
package limitertest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Allow is the limiter contract: whether one more event of key is allowed
// at now.
type Allow func(key string, now time.Time) (bool, error)

// Run checks an implementation against the specification. replicas(t,
// limit, window) returns a maker: every call of it within one test returns
// a limiter over the same shared state (limit and window 0: the defaults).
func Run(t *testing.T, replicas func(t *testing.T, limit int, window time.Duration) func() Allow) {
	t.Run("TokenBucket", func(t *testing.T) { testLimiterSteps(t, replicas(t, 3, time.Minute)()) })
	t.Run("Defaults", func(t *testing.T) { testLimiterDefaults(t, replicas(t, 0, 0)()) })
	t.Run("UnevenInterval", func(t *testing.T) { testLimiterUneven(t, replicas(t, 7, time.Minute)()) })
	t.Run("ConcurrentReplicas", func(t *testing.T) { testLimiterConcurrent(t, replicas(t, 50, time.Hour)) })
}

func allow(t *testing.T, l Allow, key string, now time.Time) bool {
	t.Helper()
	ok, err := l(key, now)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return ok
}

func testLimiterSteps(t *testing.T, l Allow) {
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", 0, true},
		{"a", time.Second, true},
		{"a", 2 * time.Second, false}, // burst of 3 spent
		{"b", 2 * time.Second, true},  // keys are independent
		{"a", 19 * time.Second, false},
		{"a", 21 * time.Second, true}, // one token back every 20 s
		{"a", 22 * time.Second, false},
		{"a", 10 * time.Minute, true}, // idle: full again
		{"a", 10 * time.Minute, true},
		{"a", 10 * time.Minute, true},
		{"a", 10 * time.Minute, false},
	}
	for i, s := range steps {
		if got := allow(t, l, s.key, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: Allow(%q, +%v) = %v, want %v", i, s.key, s.at, got, s.want)
		}
	}
}

func testLimiterDefaults(t *testing.T, l Allow) {
	n := 0
	for allow(t, l, "ip", t0) {
		n++
		if n > 100 {
			break
		}
	}
	if n != 10 {
		t.Errorf("zero Config allowed a burst of %d, want 10", n)
	}
}

func testLimiterUneven(t *testing.T, l Allow) {
	// 7 per minute: a token every 8.571428... s.
	for i := range 7 {
		if !allow(t, l, "k", t0) {
			t.Fatalf("burst event %d refused, want allowed", i+1)
		}
	}
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, false},
		{8500 * time.Millisecond, false},
		{8600 * time.Millisecond, true},
		{17 * time.Second, false},
		{17200 * time.Millisecond, true},
		{60 * time.Second, true}, // 42.8 s later: 5 tokens back
		{60 * time.Second, true},
		{60 * time.Second, true},
		{60 * time.Second, true},
		{60 * time.Second, true},
		{60 * time.Second, false},
	}
	for i, s := range steps {
		if got := allow(t, l, "k", t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: Allow(+%v) = %v, want %v", i, s.at, got, s.want)
		}
	}
}

func testLimiterConcurrent(t *testing.T, replica func() Allow) {
	replicas := []Allow{replica(), replica()}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				if allow(t, replicas[i%2], "login:alice@example.com", t0) {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got, want := allowed.Load(), int64(50); got != want {
		t.Errorf("800 concurrent attempts on two replicas: %d allowed, want %d", got, want)
	}
}
