package ws_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// BenchmarkFanOut1000 measures end-to-end delivery of events to 1,000 real
// WebSocket clients on loopback, each subscribed to the event's device:
// bus -> hub fan-out -> per-client queue -> writer -> socket -> client
// Read. ns/delivery is wall time per (event, client) pair.
func BenchmarkFanOut1000(b *testing.B) {
	const clients, burst = 1000, 64 // burst well under QueueSize 256
	e := newEnv(b, nil)
	var received atomic.Int64
	for range clients {
		c := e.connect(b, "/ws/telemetry", 1)
		subscribe(b, c, map[string]any{"device_id": 1})
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	ev := reading(1, 1, 1)
	events := make([]vibemon.Event, burst)
	for i := range events {
		events[i] = ev
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Data)))
	b.ResetTimer()
	sent := 0
	start := time.Now()
	for sent < b.N {
		n := min(burst, b.N-sent)
		e.publish(b, events[:n]...)
		sent += n
		want := int64(sent) * clients
		deadline := time.Now().Add(30 * time.Second)
		for received.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("received %d deliveries, want %d", received.Load(), want)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(sent*clients), "ns/delivery")
}
