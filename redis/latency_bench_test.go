package redis_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/redis"
)

// BenchmarkBusLatency20k publishes 20,000 reading events/s on replica A for
// 3 s (after a 1 s warm-up) and measures, per event, the time from its
// scheduled publish to its delivery to a subscriber on replica B: the
// Redis part of POST -> WebSocket. batch100 is what ingest does (one
// Publish per posted batch); single/8pub is the worst case, every reading
// in its own POST, from 8 concurrent publishers (8 ingest requests at once).
// Run: go test ./redis/ -run '^$' -bench BusLatency -benchtime 1x
func BenchmarkBusLatency20k(b *testing.B) {
	for _, c := range []struct {
		name       string
		batch, pub int
	}{{"batch100", 100, 1}, {"batch10", 10, 4}, {"single/8pub", 1, 8}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				busLatency(b, 20000, c.batch, c.pub)
			}
		})
	}
}

func busLatency(b *testing.B, rate, batch, publishers int) {
	prefix := testPrefix(b)
	pub := newBus(b, redis.BusConfig{Client: newClient(b), Prefix: prefix})
	sub := newBus(b, redis.BusConfig{Client: newClient(b), Prefix: prefix})
	warmup, measure := time.Second, 3*time.Second
	start := time.Now().Add(100 * time.Millisecond)
	measureFrom := start.Add(warmup)
	var mu sync.Mutex
	var lats []time.Duration
	var got atomic.Int64
	cancel := sub.Subscribe(func(ev vibemon.Event) {
		now := time.Now()
		due := time.Unix(0, int64(binary.LittleEndian.Uint64(ev.Data[8:16])))
		if !due.Before(measureFrom) {
			mu.Lock()
			lats = append(lats, now.Sub(due))
			mu.Unlock()
			got.Add(1)
		}
	})
	defer cancel()

	total := int((warmup + measure).Seconds() * float64(rate) / float64(batch))
	interval := time.Duration(float64(time.Second) * float64(batch) / float64(rate))
	var next atomic.Int64
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events := make([]vibemon.Event, batch)
			for {
				k := int(next.Add(1) - 1)
				if k >= total {
					return
				}
				due := start.Add(time.Duration(k) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				for i := range events {
					// A reading's size (about 180 bytes of JSON) with the
					// due time at bytes 8..16.
					data := make([]byte, 180)
					binary.LittleEndian.PutUint64(data[8:16], uint64(due.UnixNano()))
					events[i] = vibemon.Event{Type: vibemon.EventReading, OrgID: 1, DeviceID: int64(i%200 + 1), AssetID: 1, Data: data}
				}
				if err := pub.Publish(context.Background(), events...); err != nil {
					failed.Add(1)
					continue
				}
				if !due.Before(measureFrom) {
					sent.Add(int64(batch))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	q := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(q(1).Microseconds())/1000, "max-ms")
	if failed.Load() > 0 || int64(len(lats)) != sent.Load() || sub.Dropped() > 0 {
		b.Errorf("%d publishes failed, %d of %d events arrived, %d dropped", failed.Load(), len(lats), sent.Load(), sub.Dropped())
	}
	fmt.Printf("%d events/s in calls of %d from %d publishers: p50 %v p99 %v max %v; %d calls in %d round trips\n", rate, batch, publishers, q(0.5), q(0.99), q(1), total, pub.Pipelines())
}
