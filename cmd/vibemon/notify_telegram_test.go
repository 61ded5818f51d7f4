package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBotAPI is a local Telegram Bot API: getUpdates hands out one
// "/start <code>" message once the test gives it a code; sendMessage is
// recorded.
type fakeBotAPI struct {
	codes chan string
	sent  chan map[string]any
	mu    sync.Mutex
	given bool
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/getUpdates"):
		select {
		case code := <-f.codes:
			fmt.Fprintf(w, `{"ok":true,"result":[{"update_id":7,"message":{"message_id":1,"chat":{"id":4242,"type":"private"},"text":"/start %s"}}]}`, code)
		case <-time.After(500 * time.Millisecond):
			io.WriteString(w, `{"ok":true,"result":[]}`)
		case <-r.Context().Done():
		}
	case strings.HasSuffix(r.URL.Path, "/sendMessage"):
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		f.sent <- m
		io.WriteString(w, `{"ok":true,"result":{"message_id":2}}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeBotAPI) next(t *testing.T, what string) map[string]any {
	t.Helper()
	select {
	case m := <-f.sent:
		return m
	case <-time.After(60 * time.Second):
		t.Fatalf("no sendMessage (%s) within 60 s", what)
		return nil
	}
}

// A user links their Telegram chat with /start <code> through `vibemon
// serve`, and an alert then reaches that chat.
func TestServeLinksTelegramAndSendsAlerts(t *testing.T) {
	bot := &fakeBotAPI{codes: make(chan string, 1), sent: make(chan map[string]any, 10)}
	api := httptest.NewServer(bot)
	t.Cleanup(api.Close)
	p := startProgram(t, map[string]string{
		"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_TELEGRAM_TOKEN": "123456:test-token",
		"VIBEMON_TELEGRAM_API_URL": api.URL, "VIBEMON_TELEGRAM_BOT": "VibeMonTestBot",
	}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	var link struct {
		Code string `json:"code"`
		Link string `json:"link"`
	}
	if st := c.do("POST", "/api/v1/me/telegram-link", nil, &link); st != 201 || link.Link != "https://t.me/VibeMonTestBot?start="+link.Code {
		t.Fatalf("telegram-link: status %d, %+v", st, link)
	}
	bot.codes <- link.Code
	if reply := bot.next(t, "the link confirmation"); fmt.Sprint(reply["chat_id"]) != "4242" || !strings.Contains(fmt.Sprint(reply["text"]), "linked") {
		t.Fatalf("bot reply = %v, want the chat told it is linked", reply)
	}
	var view struct {
		TelegramLinked bool `json:"telegram_linked"`
		Channels       map[string]struct{ Active bool }
	}
	if st := c.do("GET", "/api/v1/me/notifications", nil, &view); st != 200 || !view.TelegramLinked || !view.Channels["telegram"].Active {
		t.Fatalf("after linking: status %d, %+v; want Telegram linked and active", st, view)
	}

	var asset, dev struct{ ID int64 }
	c.do("POST", "/api/v1/assets", map[string]any{"name": "Cooling pump", "iso_group": 2, "foundation": "rigid"}, &asset)
	c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:09", "asset_id": asset.ID}, &dev)
	if st := c.do("POST", "/api/v1/alert-rules", map[string]any{"name": "vibration", "metric": "vel_rms_x", "op": "above", "threshold": 7.1, "severity": "warning", "enabled": true}, nil); st != 201 {
		t.Fatalf("create rule: status %d", st)
	}
	reading := map[string]any{"device_id": dev.ID, "seq": 1, "ts": time.Now().UTC().Format(time.RFC3339), "vel_rms_x": 9.3}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": []any{reading}}, nil); st != 200 {
		t.Fatalf("ingest: status %d", st)
	}
	msg := bot.next(t, "the alert")
	if fmt.Sprint(msg["chat_id"]) != "4242" || !strings.Contains(fmt.Sprint(msg["text"]), "WARNING") {
		t.Errorf("alert message = %v, want a WARNING in chat 4242", msg)
	}
}
