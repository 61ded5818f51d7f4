package ws

import (
	"encoding/json"
	"testing"

	"github.com/vibemon/vibemon"
)

// BenchmarkDispatch1000 measures the hub's share of fan-out alone: encode
// one event once and offer it to 1,000 matching clients' queues (plus 1,000
// clients of the org subscribed to another device).
func BenchmarkDispatch1000(b *testing.B) {
	const clients = 1000
	h := NewHub(Config{})
	var matching []*client
	for i := range 2 * clients {
		// writing: as if a writer ran, so none starts; the loop empties
		// the queues itself.
		c := &client{hub: h, ep: endpointTelemetry, orgID: 1, writing: true, closing: make(chan struct{})}
		dev := int64(1)
		if i%2 == 1 {
			dev = 2
		} else {
			matching = append(matching, c)
		}
		c.subs.Store((*subscriptions)(nil).with(clientMessage{DeviceID: dev}, true))
		h.registerReady(c)
		c.queue = c.queue[:0] // the ready message
	}
	ev := vibemon.Event{Type: vibemon.EventReading, OrgID: 1, DeviceID: 1, AssetID: 10,
		Data: json.RawMessage(`{"ts":"2025-03-01T12:00:00Z","seq":1,"values":{"acc_rms_x":0.5,"vel_rms_x":2.1,"temp_c":41.5}}`)}
	b.ReportAllocs()
	for b.Loop() {
		h.dispatch(ev)
		for _, c := range matching {
			c.mu.Lock()
			if len(c.queue) != 1 {
				b.Fatalf("a matching client has %d messages queued, want 1", len(c.queue))
			}
			c.queue = c.queue[:0]
			c.mu.Unlock()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients), "ns/delivery")
}
