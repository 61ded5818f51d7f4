package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon/redis"
)

// TestWatch: a mark made by one replica is seen by another at once, for
// that org only, until its TTL lapses; renewing extends it and never
// shortens it; a replica that cannot reach Redis says yes.
func TestWatch(t *testing.T) {
	prefix := testPrefix(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).UnixMilli())
	clock := func() time.Time { return time.UnixMilli(now.Load()) }
	newWatch := func(c *goredis.Client) *redis.Watch {
		w, err := redis.NewWatch(redis.WatchConfig{Client: c, Prefix: prefix, TTL: 10 * time.Second, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	ws, api := newWatch(newClient(t)), newWatch(newClient(t)) // a WebSocket replica, an API replica
	ctx := context.Background()
	if api.Wanted(7) {
		t.Fatal("org 7 wanted before anyone watched it")
	}
	if err := ws.Mark(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if !api.Wanted(7) || api.Wanted(8) {
		t.Fatalf("after marking org 7: Wanted(7) %v, Wanted(8) %v; want true, false", api.Wanted(7), api.Wanted(8))
	}
	now.Add(9000)
	if err := ws.Mark(ctx, 7, 8); err != nil { // the renewal
		t.Fatal(err)
	}
	now.Add(5000) // 14 s after the first mark, 5 s after the renewal
	if !api.Wanted(7) || !api.Wanted(8) {
		t.Fatal("renewed marks lapsed early")
	}
	// A replica marking with an older clock does not shorten a mark (GT).
	early := newWatch(newClient(t))
	now.Add(-9000)
	if err := early.Mark(ctx, 7); err != nil {
		t.Fatal(err)
	}
	now.Add(9000 + 5500) // 10.5 s after the renewal
	if api.Wanted(7) || api.Wanted(8) {
		t.Fatal("marks still wanted after their TTL")
	}
	if err := ws.Mark(ctx); err != nil { // renews nothing, drops the lapsed
		t.Fatal(err)
	}
	if n, err := newClient(t).ZCard(ctx, prefix+"watch").Result(); err != nil || n != 0 {
		t.Errorf("%d lapsed marks left (err %v), want 0", n, err)
	}
	// A yes is trusted for a second without asking Redis again; a no never.
	if err := ws.Mark(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if !api.Wanted(9) {
		t.Fatal("org 9 not wanted after its mark")
	}
	if err := newClient(t).Del(ctx, prefix+"watch").Err(); err != nil {
		t.Fatal(err)
	}
	if !api.Wanted(9) {
		t.Error("a yes was not trusted for its second")
	}
	now.Add(1001)
	if api.Wanted(9) {
		t.Error("a yes was trusted for more than a second")
	}
	down := newWatch(goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}))
	if !down.Wanted(7) {
		t.Error("with Redis unreachable Wanted says no; want yes (stream as without the check)")
	}
}
