package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/redis"
)

// TestTwoInstallationsShareOneRedis runs two installations (prefixes) on
// one Redis: neither sees the other's live events, online devices, offline
// announcements or login attempts.
func TestTwoInstallationsShareOneRedis(t *testing.T) {
	ctx := context.Background()
	type install struct {
		bus  *redis.Bus
		pres *redis.Presence
		lim  *redis.Limiter
		rec  *bustest.Recorder
	}
	open := func(prefix string) install {
		c := newClient(t)
		in := install{bus: newBus(t, redis.BusConfig{Client: c, Prefix: prefix}), rec: bustest.NewRecorder()}
		var err error
		if in.pres, err = redis.NewPresence(redis.PresenceConfig{Client: c, Prefix: prefix, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if in.lim, err = redis.NewLimiter(redis.LimiterConfig{Client: c, Prefix: prefix, Name: "login", Limit: 1, Window: time.Minute}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.bus.Subscribe(in.rec.Record))
		return in
	}
	plant1, plant2 := open(testPrefix(t)), open(testPrefix(t))

	// Live events: each installation receives only its own.
	if err := plant1.bus.Publish(ctx, reading(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := plant2.bus.Publish(ctx, reading(1, 2), reading(1, 3)); err != nil {
		t.Fatal(err)
	}
	// A marker published after everything else: once it has arrived,
	// anything of the other installation would have arrived too (one
	// Redis connection delivers in order).
	if err := plant1.bus.Publish(ctx, reading(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := plant2.bus.Publish(ctx, reading(1, 200)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		rec  *bustest.Recorder
		want []int
	}{"plant 1": {plant1.rec, []int{1, 100}}, "plant 2": {plant2.rec, []int{2, 3, 200}}} {
		got := c.rec.WaitN(t, len(c.want))
		for i, ev := range got {
			if s := seqOf(t, ev); s != c.want[i] {
				t.Errorf("%s: event %d has seq %d, want %d (events of the other installation leak in)", name, i, s, c.want[i])
			}
		}
	}

	// Presence: the same org and device ids, independent states.
	if came, err := plant1.pres.Touch(ctx, 7, 42, t0); err != nil || !came {
		t.Fatalf("plant 1 Touch = %v, %v; want came online", came, err)
	}
	if on, err := plant2.pres.Online(ctx, 7, t0); err != nil || len(on) != 0 {
		t.Fatalf("plant 2 Online = %v, %v; want nobody (device 42 is plant 1's)", on, err)
	}
	if came, err := plant2.pres.Touch(ctx, 7, 42, t0); err != nil || !came {
		t.Fatalf("plant 2 Touch = %v, %v; want came online in plant 2 too", came, err)
	}
	gone, err := plant1.pres.Sweep(ctx, t0.Add(2*time.Minute))
	if err != nil || len(gone) != 1 {
		t.Fatalf("plant 1 Sweep = %v, %v; want device 42 once", gone, err)
	}
	if on, err := plant2.pres.Online(ctx, 7, t0.Add(30*time.Second)); err != nil || len(on) != 1 {
		t.Fatalf("plant 2 Online after plant 1's sweep = %v, %v; want device 42 still (its sweep is its own)", on, err)
	}

	// Login limit: plant 1 using up a key leaves plant 2's alone.
	for i, want := range []bool{true, false} {
		if ok, err := plant1.lim.AllowAt(ctx, "login|10.0.0.1|a@b", t0); err != nil || ok != want {
			t.Fatalf("plant 1 attempt %d: allowed=%v, %v; want %v", i+1, ok, err, want)
		}
	}
	if ok, err := plant2.lim.AllowAt(ctx, "login|10.0.0.1|a@b", t0); err != nil || !ok {
		t.Fatalf("plant 2 first attempt: allowed=%v, %v; want allowed (limits are per installation)", ok, err)
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{redis.DefaultPrefix, "plant2:", "a", "vibemon:{eu}:"} {
		if err := redis.CheckPrefix(p); err != nil {
			t.Errorf("CheckPrefix(%q) = %v, want ok", p, err)
		}
	}
	for _, p := range []string{"", "two words:", "glob*:", "tab\t", "é:", string(make([]byte, 65))} {
		if err := redis.CheckPrefix(p); err == nil {
			t.Errorf("CheckPrefix(%q) = nil, want an error", p)
		}
	}
}
