package redis_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/redis"
)

// gather returns the value of every counter in reg by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] += m.GetCounter().GetValue()
		}
	}
	return out
}

// TestBusMetricsCountRealTraffic sends events from replica A to replica B,
// kills B's subscription once, lets a slow subscriber drop, and publishes
// into a Redis that is gone, then reads the counters an operator's
// Prometheus would scrape.
func TestBusMetricsCountRealTraffic(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	name := "vibemontest-" + randomHex(t)
	a := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix})
	b := newBus(t, redis.BusConfig{Client: newNamedClient(t, name), Prefix: prefix, MinBackoff: 20 * time.Millisecond})
	// Replica C has a subscriber that never finishes its first event and
	// room for two more: C drops the rest.
	c := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix, BufferSize: 2})
	regA, regB, regC := prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()
	regA.MustRegister(a.Collectors()...)
	regB.MustRegister(b.Collectors()...)
	regC.MustRegister(c.Collectors()...)

	rec := bustest.NewRecorder()
	defer b.Subscribe(rec.Record)()
	block := make(chan struct{})
	stop := c.Subscribe(func(vibemon.Event) { <-block })
	defer stop() // after close(block): Stop waits for fn
	defer close(block)
	var batch []vibemon.Event
	for i := range 50 {
		batch = append(batch, reading(1, i))
	}
	if err := a.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, reading(1, 50)); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, reading(1, 51), reading(1, 52), reading(1, 53), reading(1, 54)); err != nil {
		t.Fatal(err)
	}
	rec.WaitN(t, 55)

	if n := killPubSub(t, newClient(t), name); n != 1 {
		t.Fatalf("killed %d subscription connections, want 1", n)
	}
	deadline := time.Now().Add(bustest.Timeout)
	for (b.Reconnects() < 1 || c.Received() < 55) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	got := gather(t, regA)
	if v := got["vibemon_redis_bus_published_events_total"]; v != 55 {
		t.Errorf("A published_events_total = %v, want 55", v)
	}
	if v := got["vibemon_redis_bus_publish_errors_total"]; v != 0 {
		t.Errorf("A publish_errors_total = %v, want 0", v)
	}
	if v := got["vibemon_redis_bus_received_events_total"]; v != 0 {
		t.Errorf("A received_events_total = %v, want 0 (A never subscribed)", v)
	}
	got = gather(t, regB)
	if v := got["vibemon_redis_bus_received_events_total"]; v != 55 {
		t.Errorf("B received_events_total = %v, want 55", v)
	}
	if v := got["vibemon_redis_bus_dropped_events_total"]; v != 0 {
		t.Errorf("B dropped_events_total = %v, want 0", v)
	}
	if v := got["vibemon_redis_bus_reconnects_total"]; v != 1 {
		t.Errorf("B reconnects_total = %v, want 1", v)
	}
	got = gather(t, regC)
	if v := got["vibemon_redis_bus_received_events_total"]; v != 55 {
		t.Errorf("C received_events_total = %v, want 55", v)
	}
	// The stuck subscriber took at most one batch of two (one event in
	// hand) and has two queued: 2 to 4 of 55 kept.
	if v := got["vibemon_redis_bus_dropped_events_total"]; v < 51 || v > 53 {
		t.Errorf("C dropped_events_total = %v, want 51 to 53", v)
	}

	// Publishing into a Redis that is gone counts errors.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	gc := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: 1, DialerRetries: 1})
	defer gc.Close()
	gone := newBus(t, redis.BusConfig{Client: gc, PublishTimeout: 500 * time.Millisecond})
	regGone := prometheus.NewRegistry()
	regGone.MustRegister(gone.Collectors()...)
	for range 3 {
		if err := gone.Publish(ctx, reading(1, 0)); err == nil {
			t.Fatal("Publish without Redis: got nil error, want one")
		}
	}
	got = gather(t, regGone)
	if v := got["vibemon_redis_bus_publish_errors_total"]; v != 3 {
		t.Errorf("publish_errors_total without Redis = %v, want 3", v)
	}
	if v := got["vibemon_redis_bus_published_events_total"]; v != 0 {
		t.Errorf("published_events_total without Redis = %v, want 0", v)
	}
}
