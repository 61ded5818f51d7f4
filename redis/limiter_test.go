package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/redis"
)

// allowFunc is the limiter contract both implementations keep.
type allowFunc func(key string, now time.Time) (bool, error)

// limiterImpls returns, per implementation, a maker of replicas: within one
// test, every call of the maker returns a limiter over the same shared state.
func limiterImpls() map[string]func(t *testing.T, limit int, window time.Duration) func() allowFunc {
	return map[string]func(t *testing.T, limit int, window time.Duration) func() allowFunc{
		"inproc": func(t *testing.T, limit int, window time.Duration) func() allowFunc {
			l := inproc.NewLimiter(inproc.LimiterConfig{Limit: limit, Window: window})
			return func() allowFunc {
				return func(key string, now time.Time) (bool, error) { return l.Allow(key, now), nil }
			}
		},
		"redis": func(t *testing.T, limit int, window time.Duration) func() allowFunc {
			prefix := testPrefix(t)
			return func() allowFunc {
				l, err := redis.NewLimiter(redis.LimiterConfig{Client: newClient(t), Prefix: prefix, Limit: limit, Window: window})
				if err != nil {
					t.Fatal(err)
				}
				return func(key string, now time.Time) (bool, error) { return l.AllowAt(context.Background(), key, now) }
			}
		},
	}
}

// TestLimiter runs the limiter specification against every implementation.
func TestLimiter(t *testing.T) {
	for name, impl := range limiterImpls() {
		t.Run(name, func(t *testing.T) {
			t.Run("TokenBucket", func(t *testing.T) { testLimiterSteps(t, impl(t, 3, time.Minute)()) })
			t.Run("Defaults", func(t *testing.T) { testLimiterDefaults(t, impl(t, 0, 0)()) })
			t.Run("UnevenInterval", func(t *testing.T) { testLimiterUneven(t, impl(t, 7, time.Minute)()) })
			t.Run("ConcurrentReplicas", func(t *testing.T) { testLimiterConcurrent(t, impl(t, 50, time.Hour)) })
		})
	}
}

func allow(t *testing.T, l allowFunc, key string, now time.Time) bool {
	t.Helper()
	ok, err := l(key, now)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return ok
}

func testLimiterSteps(t *testing.T, l allowFunc) {
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

func testLimiterDefaults(t *testing.T, l allowFunc) {
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

func testLimiterUneven(t *testing.T, l allowFunc) {
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

func testLimiterConcurrent(t *testing.T, replica func() allowFunc) {
	replicas := []allowFunc{replica(), replica()}
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

func TestLimiterForgetsIdleKeys(t *testing.T) {
	prefix := testPrefix(t)
	c := newClient(t)
	now := time.Now()
	l, err := redis.NewLimiter(redis.LimiterConfig{Client: c, Prefix: prefix, Name: "login", Limit: 10, Window: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Allow(context.Background(), "1.2.3.4|a@example.com"); !ok || err != nil {
		t.Fatalf("Allow = %v, %v; want true, nil", ok, err)
	}
	// One token spent of ten: the key is kept until it is full again, 6 s.
	ttl, err := c.PTTL(context.Background(), prefix+"login:1.2.3.4|a@example.com").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 5*time.Second || ttl > 6*time.Second {
		t.Errorf("key TTL = %v, want just under 6 s (one token's interval)", ttl)
	}
}

func TestLimiterErrorWithoutRedis(t *testing.T) {
	c := newClient(t)
	l, err := redis.NewLimiter(redis.LimiterConfig{Client: c, Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := l.Allow(context.Background(), "k"); err == nil {
		t.Error("Allow on a closed client: got nil error, want one (callers let the request through)")
	}
}
