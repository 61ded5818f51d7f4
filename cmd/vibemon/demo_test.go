package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vibemon/vibemon/sim"
)

type liveMessage struct {
	Type     string          `json:"type"`
	DeviceID int64           `json:"device_id"`
	Data     json.RawMessage `json:"data"`
}

// dialLive opens a WebSocket on path with the token and returns a channel of
// its messages.
func dialLive(t *testing.T, ctx context.Context, base, path, token string, subscribe any) <-chan liveMessage {
	t.Helper()
	url := strings.Replace(base, "http://", "ws://", 1) + path + "?token=" + token
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if subscribe != nil {
		b, _ := json.Marshal(subscribe)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("subscribe on %s: %v", path, err)
		}
	}
	ch := make(chan liveMessage, 1024)
	go func() {
		defer close(ch)
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("live connection %s closed: %v", path, err)
				}
				return
			}
			var m liveMessage
			if json.Unmarshal(data, &m) == nil {
				select {
				case ch <- m:
				default:
				}
			}
		}
	}()
	return ch
}

// waitFor returns the first message of type typ within d.
func waitFor(t *testing.T, ch <-chan liveMessage, typ string, d time.Duration) liveMessage {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("live connection closed while waiting for a %q message", typ)
			}
			if m.Type == typ {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q message within %s", typ, d)
		}
	}
}

func TestDemoStreamsLiveReadingsAndRaisesAnAlert(t *testing.T) {
	env := map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}
	// At 3000x a degrading machine crosses its warning level within seconds.
	p := startProgram(t, env, "demo", "--addr", "127.0.0.1:0", "--devices", "3", "--speed", "3000")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	readings := dialLive(t, ctx, p.URL, "/ws/telemetry", c.token, map[string]any{"type": "subscribe", "org": true})
	alerts := dialLive(t, ctx, p.URL, "/ws/alerts", c.token, nil)

	m := waitFor(t, readings, "reading", 10*time.Second)
	var data struct {
		Seq    int64              `json:"seq"`
		Values map[string]float64 `json:"values"`
	}
	if err := json.Unmarshal(m.Data, &data); err != nil || m.DeviceID == 0 || data.Values["vel_rms_x"] <= 0 {
		t.Fatalf("live reading %+v (%v): want a device id and a velocity", m, err)
	}
	a := waitFor(t, alerts, "alert", 45*time.Second)
	var alert struct {
		Status, Severity, Metric string
	}
	if err := json.Unmarshal(a.Data, &alert); err != nil || alert.Status == "" || alert.Metric == "" {
		t.Fatalf("live alert %s (%v): want status and metric", a.Data, err)
	}

	var list struct{ Items []struct{ Status string } }
	if st := c.do("GET", "/api/v1/alerts", nil, &list); st != 200 || len(list.Items) == 0 {
		t.Fatalf("GET /alerts: status %d, %d alerts; want the alert the stream announced", st, len(list.Items))
	}
	var devices struct {
		Items []struct {
			ID         int64
			Online     bool
			LastSeenAt *time.Time `json:"last_seen_at"`
		}
	}
	if st := c.do("GET", "/api/v1/devices", nil, &devices); st != 200 || len(devices.Items) != 3 {
		t.Fatalf("GET /devices: status %d, %d devices; want 3", st, len(devices.Items))
	}
	for i, d := range devices.Items {
		if !d.Online || d.LastSeenAt == nil {
			t.Errorf("device %d: online %v, last seen %v; want online and seen", i, d.Online, d.LastSeenAt)
		}
		// The history the demo starts with, and what came live,
		// is all there: the device page's "received" tile says 100 %, not
		// that the demo lost readings (it said 12.9 % once).
		var comp struct {
			Received    int64   `json:"received"`
			Percent     float64 `json:"percent"`
			Unexplained int64   `json:"unexplained"`
		}
		if st := c.do("GET", fmt.Sprintf("/api/v1/devices/%d/completeness", d.ID), nil, &comp); st != 200 || comp.Received < 360 || comp.Percent < 99 {
			t.Errorf("device %d: completeness %+v (status %d), want the history of the last 24 hours (360 readings and more) and >= 99 %% received", d.ID, comp, st)
		}
		// And the week before it, a reading every 10 minutes: the day and
		// month charts have something to show from the first minute.
		var hours struct{ Items []json.RawMessage }
		from := time.Now().UTC().Add(-8 * 24 * time.Hour).Format(time.RFC3339)
		if st := c.do("GET", fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=1h&metrics=vel_rms_x&from=%s", d.ID, from), nil, &hours); st != 200 || len(hours.Items) < 7*24 {
			t.Errorf("device %d: %d hourly points over the last 8 days (status %d), want the week of history (168 and more)", d.ID, len(hours.Items), st)
		}
	}
}

// slowBackfill holds up each large POST /telemetry (a backfill batch, not
// a live one of a reading per device) by delay.
type slowBackfill time.Duration

func (d slowBackfill) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/telemetry") && r.ContentLength > 100_000 {
		time.Sleep(time.Duration(d))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A demo fleet whose backfill takes a while (a slow or busy server) goes
// on numbering its live readings right after the backfilled ones: the
// seconds the backfill took are not a hole in every device's data (CI
// once saw 8 readings "lost" on every device so).
func TestDemoFleetNumbersOnFromItsBackfill(t *testing.T) {
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	began := time.Now()
	fleet, err := sim.NewFleet(sim.FleetConfig{
		BaseURL: p.URL, Token: func(context.Context) (string, error) { return c.token, nil },
		Devices: 2, BurstEvery: -1, Logger: slog.New(slog.DiscardHandler),
		// The backfill is two batches (2 x 1,368 readings): 8 s.
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: slowBackfill(4 * time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	var devs struct{ Items []struct{ ID int64 } }
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no live reading of both devices within 60 s")
		}
		c.do("GET", "/api/v1/devices", nil, &devs)
		live := 0
		for _, d := range devs.Items {
			var latest struct{ TS time.Time }
			if c.do("GET", fmt.Sprintf("/api/v1/devices/%d/latest", d.ID), nil, &latest) == 200 && latest.TS.After(began) {
				live++
			}
		}
		if len(devs.Items) == 2 && live == 2 {
			break
		}
	}
	time.Sleep(3 * time.Second) // a few live readings more
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, d := range devs.Items {
		var comp struct {
			Received    int64 `json:"received"`
			Unexplained int64 `json:"unexplained"`
		}
		if st := c.do("GET", fmt.Sprintf("/api/v1/devices/%d/completeness", d.ID), nil, &comp); st != 200 || comp.Received < 498 || comp.Unexplained > 3 {
			t.Errorf("device %d: %d received, %d missing (status %d); want the backfill and the live readings without the 8 s hole (3 s of a late ticker at most)", d.ID, comp.Received, comp.Unexplained, st)
		}
	}
}
