package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestLiveStreamsAcceptAPIKeysUntilRevoked: a gateway's API key opens
// /ws/telemetry (?token=) and /ws/alerts (auth message) like a user's
// access token, and its subscription gets the readings posted with it;
// once revoked, the key is refused with an unauthorized error and close
// code 1008.
func TestLiveStreamsAcceptAPIKeysUntilRevoked(t *testing.T) {
	t.Parallel()
	srv := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	admin := login(t, srv.URL, testAdminEmail, testAdminPassword)
	var key struct {
		ID  int64
		Key string
	}
	if st := admin.do("POST", "/api/v1/api-keys", map[string]string{"name": "wall display"}, &key); st != 201 {
		t.Fatalf("POST /api-keys: status %d", st)
	}
	var dev struct{ ID int64 }
	if st := admin.do("POST", "/api/v1/devices", map[string]string{"serial": "00000000000000aa", "name": "pump 1"}, &dev); st/100 != 2 {
		t.Fatalf("POST /devices: status %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := strings.Replace(srv.URL, "http://", "ws://", 1)
	read := func(conn *websocket.Conn) (liveMessage, error) {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return liveMessage{}, err
		}
		var m liveMessage
		return m, json.Unmarshal(data, &m)
	}
	send := func(conn *websocket.Conn, v any) {
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}

	tele, _, err := websocket.Dial(ctx, base+"/ws/telemetry?token="+key.Key, nil)
	if err != nil {
		t.Fatalf("dial /ws/telemetry with the key: %v", err)
	}
	defer tele.CloseNow()
	if m, err := read(tele); err != nil || m.Type != "ready" {
		t.Fatalf("/ws/telemetry with an API key: %+v, %v; want ready", m, err)
	}
	send(tele, map[string]any{"type": "subscribe", "device_id": dev.ID})
	alerts, _, err := websocket.Dial(ctx, base+"/ws/alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.CloseNow()
	send(alerts, map[string]any{"type": "auth", "token": key.Key})
	if m, err := read(alerts); err != nil || m.Type != "ready" {
		t.Fatalf("/ws/alerts after an auth message with an API key: %+v, %v; want ready", m, err)
	}

	// A reading posted with the key arrives on the key's subscription.
	keyClient := &client{t: t, base: srv.URL, token: key.Key}
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	body := map[string]any{"readings": []any{map[string]any{"device_id": dev.ID, "seq": 1, "ts": ts, "temp_c": 41.5}}}
	if st := keyClient.do("POST", "/api/v1/telemetry", body, nil); st != 200 {
		t.Fatalf("POST /telemetry with the key: status %d", st)
	}
	for {
		m, err := read(tele)
		if err != nil {
			t.Fatalf("waiting for the reading on /ws/telemetry: %v", err)
		}
		if m.Type == "reading" && m.DeviceID == dev.ID {
			break
		}
	}

	if st := admin.do("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", key.ID), nil, nil); st != 204 {
		t.Fatalf("revoke: status %d", st)
	}
	for _, c := range []struct {
		path string
		auth bool // by message rather than ?token=
	}{{"/ws/telemetry?token=" + key.Key, false}, {"/ws/alerts", true}} {
		conn, _, err := websocket.Dial(ctx, base+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.auth {
			send(conn, map[string]any{"type": "auth", "token": key.Key})
		}
		m, err := read(conn)
		var data struct{ Code string }
		json.Unmarshal(m.Data, &data)
		if err != nil || m.Type != "error" || data.Code != "unauthorized" {
			t.Errorf("%s with a revoked key: %+v (%s), %v; want an unauthorized error", c.path, m, m.Data, err)
		}
		if _, err := read(conn); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("%s with a revoked key: closed with %v, want 1008", c.path, err)
		}
		conn.CloseNow()
	}
}
