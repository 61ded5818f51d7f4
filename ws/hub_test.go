package ws_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/ws"
)

// testKey signs the test tokens: "org.user.expiry-unix.hex(hmac)".
var testKey = []byte("test-signing-key")

func signToken(org, user int64, exp time.Time) string {
	payload := fmt.Sprintf("%d.%d.%d", org, user, exp.Unix())
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + hex.EncodeToString(mac.Sum(nil))
}

func verifyToken(token string) (org, user int64, err error) {
	bad := vibemon.Errorf(vibemon.EUNAUTHORIZED, "Invalid or expired token.")
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return 0, 0, bad
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return 0, 0, bad
	}
	mac := hmac.New(sha256.New, testKey)
	mac.Write(payload)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return 0, 0, bad
	}
	parts := strings.Split(string(payload), ".")
	if len(parts) != 3 {
		return 0, 0, bad
	}
	org, _ = strconv.ParseInt(parts[0], 10, 64)
	user, _ = strconv.ParseInt(parts[1], 10, 64)
	exp, _ := strconv.ParseInt(parts[2], 10, 64)
	if time.Now().Unix() >= exp {
		return 0, 0, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The token has expired.")
	}
	return org, user, nil
}

// The fleet: org 1 has devices 1 and 2 on asset 10 and device 3 on asset
// 20; org 2 has device 5 on asset 50.
type device struct{ org, asset int64 }

var fleet = map[int64]device{
	1: {1, 10},
	2: {1, 10},
	3: {1, 20},
	5: {2, 50},
}

var assets = map[int64]int64{10: 1, 20: 1, 50: 2}

func lookupDevice(ctx context.Context, org, id int64) (int64, error) {
	d, ok := fleet[id]
	if !ok || d.org != org {
		return 0, vibemon.Errorf(vibemon.ENOTFOUND, "Device %d not found.", id)
	}
	return d.asset, nil
}

func lookupAsset(ctx context.Context, org, id int64) error {
	if assets[id] != org {
		return vibemon.Errorf(vibemon.ENOTFOUND, "Asset %d not found.", id)
	}
	return nil
}

type env struct {
	hub      *ws.Hub
	bus      *inproc.Bus
	presence *inproc.Presence
	srv      *httptest.Server
	reg      *prometheus.Registry
	now      time.Time
}

// newEnv starts a hub on an inproc bus behind a real HTTP server. The
// cleanup stops everything and checks that no goroutine is left.
func newEnv(t testing.TB, mod func(*ws.Config)) *env {
	t.Helper()
	before := runtime.NumGoroutine()
	e := &env{
		bus:      inproc.NewBus(inproc.BusConfig{}),
		presence: inproc.NewPresence(inproc.PresenceConfig{}),
		reg:      prometheus.NewRegistry(),
		now:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	cfg := ws.Config{
		Bus:        e.bus,
		Verify:     verifyToken,
		Presence:   e.presence,
		Devices:    lookupDevice,
		Assets:     lookupAsset,
		Now:        func() time.Time { return e.now },
		Registerer: e.reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.hub = ws.NewHub(cfg)
	if err := e.hub.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/", e.hub.Handler())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.hub.Stop()
		e.srv.Close()
		e.bus.Close()
		checkNoLeak(t, before)
	})
	return e
}

// checkNoLeak fails when more goroutines run than before, after giving
// exiting ones a moment.
func checkNoLeak(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines running, want at most %d as before the test:\n%s", n, before, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) url(path, token string) string {
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	if token != "" {
		u += "?token=" + token
	}
	return u
}

// dial connects without authenticating.
func (e *env) dial(t testing.TB, path, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.url(path, token), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// connect dials with a valid token for org and user 100+org and waits for
// ready.
func (e *env) connect(t testing.TB, path string, org int64) *websocket.Conn {
	t.Helper()
	c := e.dial(t, path, signToken(org, 100+org, time.Now().Add(time.Hour)))
	if m := read(t, c); m.Type != "ready" {
		t.Fatalf("first message %+v, want ready", m)
	}
	return c
}

type message struct {
	Type     string          `json:"type"`
	DeviceID int64           `json:"device_id"`
	AssetID  int64           `json:"asset_id"`
	Data     json.RawMessage `json:"data"`
	raw      string
}

func read(t testing.TB, c *websocket.Conn) message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v, want text", typ)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %q is not JSON: %v", b, err)
	}
	m.raw = string(b)
	return m
}

func send(t testing.TB, c *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// expectError reads an error message with the code, then (when closeCode is
// not 0) the close frame with closeCode.
func expectError(t testing.TB, c *websocket.Conn, code string, closeCode websocket.StatusCode) {
	t.Helper()
	m := read(t, c)
	var d struct{ Code, Message string }
	if m.Type != "error" || json.Unmarshal(m.Data, &d) != nil || d.Code != code || d.Message == "" {
		t.Fatalf("got %s, want an error message with code %q", m.raw, code)
	}
	if closeCode != 0 {
		expectClose(t, c, closeCode)
	}
}

func expectClose(t testing.TB, c *websocket.Conn, code websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err == nil {
			continue // data still queued before the close frame
		}
		if got := websocket.CloseStatus(err); got != code {
			t.Fatalf("connection ended with %v (close status %v, last data %q), want close status %v", err, got, b, code)
		}
		return
	}
}

func subscribe(t testing.TB, c *websocket.Conn, target map[string]any) message {
	t.Helper()
	m := map[string]any{"type": "subscribe"}
	for k, v := range target {
		m[k] = v
	}
	send(t, c, m)
	snap := read(t, c)
	if snap.Type != "presence" {
		t.Fatalf("after subscribe got %s, want the presence snapshot", snap.raw)
	}
	return snap
}

func reading(org, dev, seq int64) vibemon.Event {
	return vibemon.Event{
		Type: vibemon.EventReading, OrgID: org, DeviceID: dev, AssetID: fleet[dev].asset,
		Data: json.RawMessage(fmt.Sprintf(`{"ts":"2025-03-01T12:00:00Z","seq":%d,"values":{"acc_rms_x":0.5}}`, seq)),
	}
}

func (e *env) publish(t testing.TB, events ...vibemon.Event) {
	t.Helper()
	if err := e.bus.Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

// expectReadings reads len(want) messages and checks they are the readings
// of those (device, seq) pairs, in order.
func expectReadings(t testing.TB, c *websocket.Conn, want ...[2]int64) {
	t.Helper()
	for _, w := range want {
		m := read(t, c)
		var d struct{ Seq int64 }
		json.Unmarshal(m.Data, &d)
		if m.Type != "reading" || m.DeviceID != w[0] || d.Seq != w[1] {
			t.Fatalf("got %s, want the reading of device %d seq %d", m.raw, w[0], w[1])
		}
	}
}

func TestAuth(t *testing.T) {
	good := signToken(1, 7, time.Now().Add(time.Hour))
	tests := []struct {
		name      string
		query     string // ?token=
		first     any    // first client message, if any
		wantReady bool
	}{
		{"token in query", good, nil, true},
		{"token in first message", "", map[string]string{"type": "auth", "token": good}, true},
		{"bad signature in query", good[:len(good)-2] + "00", nil, false},
		{"token of another key", "", map[string]string{"type": "auth", "token": "MS43Ljk5OTk5OTk5OTk.00"}, false},
		{"expired token", signToken(1, 7, time.Now().Add(-time.Minute)), nil, false},
		{"subscribe before auth", "", map[string]any{"type": "subscribe", "org": true}, false},
		{"empty auth message", "", map[string]string{"type": "auth"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			for _, path := range []string{"/ws/telemetry", "/ws/alerts"} {
				c := e.dial(t, path, tt.query)
				if tt.first != nil {
					send(t, c, tt.first)
				}
				if tt.wantReady {
					if m := read(t, c); m.raw != `{"type":"ready"}` {
						t.Fatalf("%s: got %s, want ready", path, m.raw)
					}
				} else {
					expectError(t, c, vibemon.EUNAUTHORIZED, websocket.StatusPolicyViolation)
				}
			}
		})
	}
}

func TestAuthTimeout(t *testing.T) {
	e := newEnv(t, func(c *ws.Config) { c.AuthTimeout = 100 * time.Millisecond })
	c := e.dial(t, "/ws/telemetry", "")
	start := time.Now()
	expectError(t, c, vibemon.EUNAUTHORIZED, websocket.StatusPolicyViolation)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v, want about the 100 ms auth timeout", d)
	}
}

func TestSubscriptions(t *testing.T) {
	tests := []struct {
		name   string
		target map[string]any
		want   [][2]int64 // (device, seq) received, in order
	}{
		{"device", map[string]any{"device_id": 1}, [][2]int64{{1, 1}, {1, 4}}},
		{"asset", map[string]any{"asset_id": 10}, [][2]int64{{1, 1}, {2, 2}, {1, 4}}},
		{"org", map[string]any{"org": true}, [][2]int64{{1, 1}, {2, 2}, {3, 3}, {1, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.connect(t, "/ws/telemetry", 1)
			subscribe(t, c, tt.target)
			e.publish(t, reading(1, 1, 1), reading(1, 2, 2), reading(1, 3, 3), reading(2, 5, 9), reading(1, 1, 4))
			expectReadings(t, c, tt.want...)
			// Nothing else was queued: the next message is the marker.
			send(t, c, map[string]any{"type": "subscribe", "device_id": 3})
			if m := read(t, c); m.Type != "presence" {
				t.Fatalf("got %s, want the snapshot (an event leaked through the subscription)", m.raw)
			}
		})
	}
}

func TestReadingMessageFormat(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(t, "/ws/telemetry", 1)
	subscribe(t, c, map[string]any{"device_id": 2})
	e.publish(t, reading(1, 2, 42))
	got := read(t, c).raw
	want := `{"type":"reading","device_id":2,"asset_id":10,"data":{"ts":"2025-03-01T12:00:00Z","seq":42,"values":{"acc_rms_x":0.5}}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestUnsubscribe(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(t, "/ws/telemetry", 1)
	subscribe(t, c, map[string]any{"device_id": 1})
	subscribe(t, c, map[string]any{"device_id": 2})
	send(t, c, map[string]any{"type": "unsubscribe", "device_id": 1})
	// The unsubscribe is handled before the next subscribe's snapshot.
	subscribe(t, c, map[string]any{"device_id": 3})
	e.publish(t, reading(1, 1, 1), reading(1, 2, 2), reading(1, 3, 3))
	expectReadings(t, c, [2]int64{2, 2}, [2]int64{3, 3})
}

func TestOrgIsolation(t *testing.T) {
	e := newEnv(t, nil)
	a := e.connect(t, "/ws/telemetry", 1)
	alertsA := e.connect(t, "/ws/alerts", 1)

	// Org 2's device and asset are not found for org 1; the connection stays.
	send(t, a, map[string]any{"type": "subscribe", "device_id": 5})
	expectError(t, a, vibemon.ENOTFOUND, 0)
	send(t, a, map[string]any{"type": "subscribe", "asset_id": 50})
	expectError(t, a, vibemon.ENOTFOUND, 0)
	send(t, a, map[string]any{"type": "subscribe", "device_id": 999})
	expectError(t, a, vibemon.ENOTFOUND, 0)

	subscribe(t, a, map[string]any{"org": true})
	subscribe(t, a, map[string]any{"device_id": 1})
	subscribe(t, a, map[string]any{"asset_id": 10})
	// Events of org 2 that name org 1's device and asset ids must not reach
	// org 1, whatever it subscribed to.
	e.publish(t,
		vibemon.Event{Type: vibemon.EventReading, OrgID: 2, DeviceID: 1, AssetID: 10, Data: json.RawMessage(`{"seq":666}`)},
		vibemon.Event{Type: vibemon.EventPresence, OrgID: 2, DeviceID: 1, AssetID: 10, Data: json.RawMessage(`{"online":true}`)},
		vibemon.Event{Type: vibemon.EventAlert, OrgID: 2, DeviceID: 1, AssetID: 10, Data: json.RawMessage(`{"id":666}`)},
		reading(1, 1, 7),
		vibemon.Event{Type: vibemon.EventAlert, OrgID: 1, DeviceID: 1, AssetID: 10, Data: json.RawMessage(`{"id":7}`)},
	)
	expectReadings(t, a, [2]int64{1, 7})
	if m := read(t, alertsA); m.Type != "alert" || string(m.Data) != `{"id":7}` {
		t.Fatalf("alerts of org 1 got %s, want org 1's alert 7 first", m.raw)
	}
}

// TestWatching: the hub reports an org as watched while one of its
// clients is connected to the telemetry stream (an alerts-only client does
// not count), and no longer once it has gone.
func TestWatching(t *testing.T) {
	e := newEnv(t, nil)
	if e.hub.Watching(1) {
		t.Fatal("org 1 watched before any client connected")
	}
	alerts := e.connect(t, "/ws/alerts", 1)
	if e.hub.Watching(1) {
		t.Error("org 1 watched with only an alerts client")
	}
	c := e.connect(t, "/ws/telemetry", 1)
	if !e.hub.Watching(1) || e.hub.Watching(2) {
		t.Fatalf("with a telemetry client of org 1: Watching(1) %v, Watching(2) %v; want true, false", e.hub.Watching(1), e.hub.Watching(2))
	}
	c.Close(websocket.StatusNormalClosure, "")
	alerts.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for e.hub.Watching(1) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.hub.Watching(1) {
		t.Error("org 1 still watched 5 s after its client left")
	}
}

// TestWatchMarksBeforeReady: a telemetry client's org is marked watched
// (Config.Watch) before the client is told it is ready, so a reading posted
// after ready on any replica is streamed; alerts clients mark nothing; the
// hub lists the orgs its telemetry clients watch.
func TestWatchMarksBeforeReady(t *testing.T) {
	var mu sync.Mutex
	var marked []int64
	e := newEnv(t, func(c *ws.Config) {
		c.Watch = func(_ context.Context, orgID int64) error {
			mu.Lock()
			defer mu.Unlock()
			marked = append(marked, orgID)
			return nil
		}
	})
	e.connect(t, "/ws/alerts", 2)
	mu.Lock()
	if len(marked) != 0 {
		t.Errorf("an alerts client marked orgs %v", marked)
	}
	mu.Unlock()
	e.connect(t, "/ws/telemetry", 1) // returns once ready arrived
	mu.Lock()
	if !slices.Equal(marked, []int64{1}) {
		t.Errorf("marked %v by the time the telemetry client of org 1 was ready, want [1]", marked)
	}
	mu.Unlock()
	if got := e.hub.WatchedOrgs(); !slices.Equal(got, []int64{1}) {
		t.Errorf("WatchedOrgs() = %v, want [1]", got)
	}
}

func TestAlertsEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	c := e.connect(t, "/ws/alerts", 1)
	other := e.connect(t, "/ws/alerts", 2)
	e.publish(t,
		reading(1, 1, 1),
		vibemon.Event{Type: vibemon.EventPresence, OrgID: 1, DeviceID: 1, Data: json.RawMessage(`{"online":true}`)},
		vibemon.Event{Type: vibemon.EventAlert, OrgID: 1, DeviceID: 3, AssetID: 20, Data: json.RawMessage(`{"id":1,"status":"open"}`)},
		vibemon.Event{Type: vibemon.EventAlert, OrgID: 2, DeviceID: 5, AssetID: 50, Data: json.RawMessage(`{"id":2,"status":"open"}`)},
		vibemon.Event{Type: vibemon.EventAlert, OrgID: 1, DeviceID: 2, AssetID: 10, Data: json.RawMessage(`{"id":1,"status":"resolved"}`)},
	)
	for _, want := range []string{
		`{"type":"alert","device_id":3,"asset_id":20,"data":{"id":1,"status":"open"}}`,
		`{"type":"alert","device_id":2,"asset_id":10,"data":{"id":1,"status":"resolved"}}`,
	} {
		if got := read(t, c).raw; got != want {
			t.Errorf("org 1 got %s, want %s", got, want)
		}
	}
	if got, want := read(t, other).raw, `{"type":"alert","device_id":5,"asset_id":50,"data":{"id":2,"status":"open"}}`; got != want {
		t.Errorf("org 2 got %s, want %s", got, want)
	}
	// The alerts stream takes no subscriptions.
	send(t, c, map[string]any{"type": "subscribe", "device_id": 1})
	expectError(t, c, vibemon.EINVALID, websocket.StatusPolicyViolation)
}

func TestPresence(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, d := range []struct{ org, dev int64 }{{1, 1}, {1, 3}, {2, 5}} {
		e.presence.Touch(ctx, d.org, d.dev, e.now.Add(-10*time.Second))
	}
	c := e.connect(t, "/ws/telemetry", 1)
	tests := []struct {
		target map[string]any
		want   string
	}{
		{map[string]any{"device_id": 2}, `{"type":"presence","data":{"online":[]}}`},
		{map[string]any{"device_id": 1}, `{"type":"presence","data":{"online":[1]}}`},
		{map[string]any{"asset_id": 10}, `{"type":"presence","data":{"online":[1]}}`},
		{map[string]any{"asset_id": 20}, `{"type":"presence","data":{"online":[3]}}`},
		{map[string]any{"org": true}, `{"type":"presence","data":{"online":[1,3]}}`},
	}
	for _, tt := range tests {
		if got := subscribe(t, c, tt.target).raw; got != tt.want {
			t.Errorf("snapshot after subscribing to %v = %s, want %s", tt.target, got, tt.want)
		}
	}
	e.publish(t,
		vibemon.Event{Type: vibemon.EventPresence, OrgID: 2, DeviceID: 5, AssetID: 50, Data: json.RawMessage(`{"online":false}`)},
		vibemon.Event{Type: vibemon.EventPresence, OrgID: 1, DeviceID: 3, AssetID: 20, Data: json.RawMessage(`{"online":false}`)},
	)
	if got, want := read(t, c).raw, `{"type":"presence","device_id":3,"asset_id":20,"data":{"online":false}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMalformedMessages(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		typ       websocket.MessageType
		msg       string
		code      string
		closeCode websocket.StatusCode
	}{
		{"binary", "/ws/telemetry", websocket.MessageBinary, `{"type":"subscribe","org":true}`, vibemon.EINVALID, websocket.StatusUnsupportedData},
		{"not JSON", "/ws/telemetry", websocket.MessageText, `subscribe 1`, vibemon.EINVALID, websocket.StatusUnsupportedData},
		{"unknown field", "/ws/telemetry", websocket.MessageText, `{"type":"subscribe","devce_id":1}`, vibemon.EINVALID, websocket.StatusUnsupportedData},
		{"unknown type", "/ws/telemetry", websocket.MessageText, `{"type":"publish"}`, vibemon.EINVALID, websocket.StatusPolicyViolation},
		{"subscribe without target", "/ws/telemetry", websocket.MessageText, `{"type":"subscribe"}`, vibemon.EINVALID, websocket.StatusPolicyViolation},
		{"subscribe with two targets", "/ws/telemetry", websocket.MessageText, `{"type":"subscribe","device_id":1,"asset_id":10}`, vibemon.EINVALID, websocket.StatusPolicyViolation},
		{"negative id", "/ws/telemetry", websocket.MessageText, `{"type":"subscribe","device_id":-1}`, vibemon.EINVALID, websocket.StatusPolicyViolation},
		{"token of another user", "/ws/alerts", websocket.MessageText, `{"type":"auth","token":"` + signToken(2, 102, time.Now().Add(time.Hour)) + `"}`, vibemon.EUNAUTHORIZED, websocket.StatusPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.connect(t, tt.path, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Write(ctx, tt.typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			expectError(t, c, tt.code, tt.closeCode)
		})
	}
	t.Run("too large", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.connect(t, "/ws/telemetry", 1)
		send(t, c, map[string]any{"type": "auth", "token": strings.Repeat("x", 5000)})
		expectClose(t, c, websocket.StatusMessageTooBig)
	})
	t.Run("refreshed token of the same user", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.connect(t, "/ws/telemetry", 1)
		send(t, c, map[string]any{"type": "auth", "token": signToken(1, 101, time.Now().Add(2*time.Hour))})
		subscribe(t, c, map[string]any{"org": true}) // still open
	})
}

func TestUnknownPathAndStopped(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/ws/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusNotFound; got != want {
		t.Errorf("GET /ws/other: status %d, want %d", got, want)
	}
	e.hub.Stop()
	resp, err = http.Get(e.srv.URL + "/ws/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Errorf("GET /ws/telemetry after Stop: status %d, want %d", got, want)
	}
}

func TestStartValidates(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*ws.Config)
		want string
	}{
		{"no bus", func(c *ws.Config) { c.Bus = nil }, "Bus"},
		{"no verify", func(c *ws.Config) { c.Verify = nil }, "Verify"},
		{"no devices", func(c *ws.Config) { c.Devices = nil }, "Devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ws.Config{Bus: inproc.NewBus(inproc.BusConfig{}), Verify: verifyToken, Devices: lookupDevice}
			tt.mod(&cfg)
			h := ws.NewHub(cfg)
			defer h.Stop()
			err := h.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start: %v, want an error naming %s", err, tt.want)
			}
		})
	}
	h := ws.NewHub(ws.Config{Bus: inproc.NewBus(inproc.BusConfig{}), Verify: verifyToken, Devices: lookupDevice})
	defer h.Stop()
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err == nil {
		t.Error("second Start: nil error, want one")
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
