package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon/limitertest"
	"github.com/vibemon/vibemon/redis"
)

// TestLimiter runs the limiter specification against the Redis limiter,
// two replicas being two clients on one prefix.
func TestLimiter(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, limit int, window time.Duration) func() limitertest.Allow {
		prefix := testPrefix(t)
		return func() limitertest.Allow {
			l, err := redis.NewLimiter(redis.LimiterConfig{Client: newClient(t), Prefix: prefix, Limit: limit, Window: window})
			if err != nil {
				t.Fatal(err)
			}
			return func(key string, now time.Time) (bool, error) { return l.AllowAt(context.Background(), key, now) }
		}
	})
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
