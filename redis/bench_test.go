package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/redis"
)

// BenchmarkPublish measures how many reading events per second one
// publisher gets through Redis: batches of 100 per Publish call (what ingest
// sends) against one Publish call per event. Each op is one Publish call;
// events/s is the figure to compare.
func BenchmarkPublish(b *testing.B) {
	c := newClient(b)
	for _, size := range []int{1, 100} {
		b.Run(map[int]string{1: "single", 100: "batch100"}[size], func(b *testing.B) {
			bus := newBus(b, redis.BusConfig{Client: c, Prefix: testPrefix(b)})
			events := make([]vibemon.Event, size)
			for i := range events {
				events[i] = reading(1, i)
			}
			ctx := context.Background()
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := bus.Publish(ctx, events...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkDeliver measures the whole live path between two replicas:
// batches of 100 readings published on one Bus until a subscriber of
// another Bus has received them all.
func BenchmarkDeliver(b *testing.B) {
	prefix := testPrefix(b)
	pub := newBus(b, redis.BusConfig{Client: newClient(b), Prefix: prefix})
	sub := newBus(b, redis.BusConfig{Client: newClient(b), Prefix: prefix})
	rec := bustest.NewRecorder()
	defer sub.Subscribe(func(ev vibemon.Event) { rec.Record(vibemon.Event{}) })()
	events := make([]vibemon.Event, 100)
	for i := range events {
		events[i] = reading(1, i)
	}
	ctx := context.Background()
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := pub.Publish(ctx, events...); err != nil {
			b.Fatal(err)
		}
		n += len(events)
	}
	rec.WaitN(b, n)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	if d := sub.Dropped(); d > 0 {
		b.Errorf("subscriber dropped %d events", d)
	}
}
