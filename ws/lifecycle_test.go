package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/ws"
)

// metric returns the value of the named gauge or counter in reg.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s is not registered", name)
	return 0
}

func bigReading(seq int) vibemon.Event {
	pad := strings.Repeat("x", 128<<10)
	return vibemon.Event{
		Type: vibemon.EventReading, OrgID: 1, DeviceID: 1, AssetID: 10,
		Data: json.RawMessage(fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, seq, pad)),
	}
}

func TestSlowClientIsDisconnectedFastClientKeepsEverything(t *testing.T) {
	e := newEnv(t, func(c *ws.Config) {
		c.QueueSize = 8
		c.WriteTimeout = 10 * time.Second // the slow client is slow, not dead
	})
	fast := e.connect(t, "/ws/telemetry", 1)
	slow := e.connect(t, "/ws/telemetry", 1)
	subscribe(t, fast, map[string]any{"org": true})
	subscribe(t, slow, map[string]any{"device_id": 1})

	// The slow client reads nothing: once the socket buffers and its queue
	// of 8 are full, it must be cut off. The fast client reads each event.
	seq := 0
	for metric(t, e.reg, "vibemon_ws_slow_disconnects_total") == 0 {
		seq++
		if seq > 2000 {
			t.Fatalf("no slow-consumer disconnect after %d events of 128 KiB", seq)
		}
		e.publish(t, bigReading(seq))
		expectReadings(t, fast, [2]int64{1, int64(seq)})
	}
	for range 20 { // the fast client is unaffected
		seq++
		e.publish(t, bigReading(seq))
		expectReadings(t, fast, [2]int64{1, int64(seq)})
	}
	if got := metric(t, e.reg, "vibemon_ws_slow_disconnects_total"); got != 1 {
		t.Errorf("slow disconnects = %v, want 1", got)
	}
	if got := metric(t, e.reg, "vibemon_ws_dropped_messages_total"); got < 1 {
		t.Errorf("dropped messages = %v, want at least 1", got)
	}

	// The slow client gets what was already written, in order, then 1008.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := 1
	for {
		_, b, err := slow.Read(ctx)
		if err != nil {
			if got, want := websocket.CloseStatus(err), websocket.StatusPolicyViolation; got != want {
				t.Fatalf("slow client ended with %v, want close status %v", err, want)
			}
			var ce websocket.CloseError
			if ok := errorsAs(err, &ce); !ok || ce.Reason != "slow consumer" {
				t.Errorf("close reason %q, want %q", ce.Reason, "slow consumer")
			}
			break
		}
		var m struct{ Data struct{ Seq int } }
		json.Unmarshal(b, &m)
		if m.Data.Seq != next {
			t.Fatalf("slow client got seq %d, want %d", m.Data.Seq, next)
		}
		next++
	}
	if next-1 >= seq {
		t.Errorf("slow client got all %d events; the test did not make it slow", seq)
	}
	t.Logf("slow client cut off after %d of %d events of 128 KiB", next-1, seq)
	waitMetric(t, e.reg, "vibemon_ws_clients", 1)
}

func waitMetric(t testing.TB, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metric(t, reg, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStopClosesEveryClientWithGoingAway(t *testing.T) {
	e := newEnv(t, nil)
	tel := e.connect(t, "/ws/telemetry", 1)
	subscribe(t, tel, map[string]any{"org": true})
	alerts := e.connect(t, "/ws/alerts", 2)
	unauth := e.dial(t, "/ws/telemetry", "")
	waitMetric(t, e.reg, "vibemon_ws_clients", 3)

	stopped := make(chan time.Duration)
	go func() {
		start := time.Now()
		e.hub.Stop()
		stopped <- time.Since(start)
	}()
	var wg sync.WaitGroup
	for _, c := range []*websocket.Conn{tel, alerts, unauth} {
		wg.Go(func() { expectClose(t, c, websocket.StatusGoingAway) })
	}
	wg.Wait()
	if d := <-stopped; d > 2*time.Second {
		t.Errorf("Stop took %v with cooperative clients, want well under 2 s", d)
	}
	e.hub.Stop() // safe twice
	if got := metric(t, e.reg, "vibemon_ws_clients"); got != 0 {
		t.Errorf("clients after Stop = %v, want 0", got)
	}
	// The cleanup checks that no goroutine is left.
}

func TestStopIsBoundedWithUnresponsiveClients(t *testing.T) {
	e := newEnv(t, func(c *ws.Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	for range 3 {
		c := e.connect(t, "/ws/telemetry", 1)
		subscribe(t, c, map[string]any{"org": true})
	}
	// Nobody reads, so nobody answers the close frame.
	start := time.Now()
	e.hub.Stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v, want about the 300 ms ShutdownTimeout", d)
	}
}

func TestContextCancelStopsHub(t *testing.T) {
	e := newEnv(t, nil)
	// A second hub on the same bus, started with a context we cancel.
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	h := ws.NewHub(ws.Config{Bus: e.bus, Verify: verifyToken, Devices: lookupDevice, Registerer: reg})
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	e.srv.Config.Handler = h.Handler()
	c := e.connect(t, "/ws/alerts", 1)
	cancel()
	expectClose(t, c, websocket.StatusGoingAway)
}

func TestPing(t *testing.T) {
	e := newEnv(t, func(c *ws.Config) { c.PingInterval = 20 * time.Millisecond })
	c := e.connect(t, "/ws/alerts", 1)
	// The client's Read answers pings; the connection must survive many
	// ping rounds and still deliver.
	time.Sleep(200 * time.Millisecond)
	e.publish(t, vibemon.Event{Type: vibemon.EventAlert, OrgID: 1, DeviceID: 1, Data: json.RawMessage(`{"id":1}`)})
	if m := read(t, c); m.Type != "alert" {
		t.Fatalf("got %s, want the alert", m.raw)
	}
}

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		origin   string
		wantOK   bool
	}{
		{"no origin (not a browser)", nil, "", true},
		{"foreign page", nil, "https://evil.example", false},
		{"allowed pattern", []string{"*.vibemon.example"}, "https://panel.vibemon.example", true},
		{"pattern does not match", []string{"*.vibemon.example"}, "https://evil.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *ws.Config) { c.OriginPatterns = tt.patterns })
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, e.url("/ws/alerts", signToken(1, 1, time.Now().Add(time.Hour))), &websocket.DialOptions{HTTPHeader: h})
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("dial with Origin %q: err %v, want success %v", tt.origin, err, tt.wantOK)
			}
			if err != nil {
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Errorf("rejected dial: response %v, want 403", resp)
				}
				return
			}
			defer c.CloseNow()
			if m := read(t, c); m.Type != "ready" {
				t.Errorf("got %s, want ready", m.raw)
			}
		})
	}
}

// TestIngestBurstReachesAClientWhole: one ingest transaction publishes the
// readings of many coalesced POSTs at once (32 POSTs of 100 readings, a
// quarter of them for this client's devices); a client that reads at once
// gets all of them, in order, and is not cut off as a slow consumer (with
// a queue of 256 messages it was: the burst arrives faster than any
// socket drains it).
func TestIngestBurstReachesAClientWhole(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(t, "/ws/telemetry", 1)
	subscribe(t, c, map[string]any{"org": true})
	const n = 1000
	events := make([]vibemon.Event, n)
	want := make([][2]int64, n)
	for i := range events {
		events[i] = reading(1, int64(i%3+1), int64(i))
		want[i] = [2]int64{int64(i%3 + 1), int64(i)}
	}
	e.publish(t, events...)
	expectReadings(t, c, want...)
	if got := metric(t, e.reg, "vibemon_ws_slow_disconnects_total"); got != 0 {
		t.Errorf("slow disconnects = %v, want 0", got)
	}
}
