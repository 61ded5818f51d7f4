package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
	polls atomic.Int64 // getUpdates calls
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/getUpdates"):
		f.polls.Add(1)
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

// With VIBEMON_TELEGRAM_WEBHOOK_SECRET, `vibemon serve` takes the bot's
// updates on its API instead of polling: an update Telegram POSTs to the
// webhook links the chat, the bot's reply reaches the (local) Bot API, a
// request without the secret links nothing, and nobody calls getUpdates.
func TestServeTelegramWebhookLinksTheChat(t *testing.T) {
	const secret = "e2e_Webhook-secret-0123456789"
	bot := &fakeBotAPI{codes: make(chan string, 1), sent: make(chan map[string]any, 10)}
	api := httptest.NewServer(bot)
	t.Cleanup(api.Close)
	p := startProgram(t, map[string]string{
		"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_TELEGRAM_TOKEN": "123456:test-token",
		"VIBEMON_TELEGRAM_API_URL": api.URL, "VIBEMON_TELEGRAM_BOT": "VibeMonTestBot",
		"VIBEMON_TELEGRAM_WEBHOOK_SECRET": secret, "VIBEMON_PUBLIC_URL": "https://vibemon.plant.example",
	}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	var link struct{ Code string }
	if st := c.do("POST", "/api/v1/me/telegram-link", nil, &link); st != 201 || link.Code == "" {
		t.Fatalf("telegram-link: status %d, %+v", st, link)
	}
	post := func(secretHeader string, chat int64) int {
		t.Helper()
		body := fmt.Sprintf(`{"update_id":7001,"message":{"message_id":1,"date":1772353800,"from":{"id":%d,"is_bot":false,"first_name":"Ada"},"chat":{"id":%d,"type":"private"},"text":"/start %s"}}`, chat, chat, link.Code)
		req, _ := http.NewRequest("POST", p.URL+telegramWebhookPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if secretHeader != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretHeader)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST the webhook: %v", err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	linked := func() bool {
		var view struct {
			TelegramLinked bool `json:"telegram_linked"`
		}
		if st := c.do("GET", "/api/v1/me/notifications", nil, &view); st != 200 {
			t.Fatalf("GET /me/notifications: status %d", st)
		}
		return view.TelegramLinked
	}

	if st := post("", 666); st != 401 {
		t.Errorf("webhook without the secret: status %d, want 401", st)
	}
	if st := post("not-the-secret", 666); st != 401 {
		t.Errorf("webhook with a wrong secret: status %d, want 401", st)
	}
	if linked() {
		t.Fatal("an update without the secret linked the chat")
	}
	if st := post(secret, 4242); st != 200 {
		t.Fatalf("webhook with the secret: status %d, want 200", st)
	}
	if !linked() {
		t.Fatal("the webhook answered 200 but the chat is not linked")
	}
	if reply := bot.next(t, "the link confirmation"); fmt.Sprint(reply["chat_id"]) != "4242" || !strings.Contains(fmt.Sprint(reply["text"]), "linked") {
		t.Fatalf("bot reply = %v, want chat 4242 told it is linked", reply)
	}
	select {
	case m := <-bot.sent:
		t.Errorf("the bot also sent %v (the refused updates must not be answered)", m)
	default:
	}
	if n := bot.polls.Load(); n != 0 {
		t.Errorf("getUpdates was called %d times; with a webhook nobody may poll", n)
	}
	logs := p.Stderr.String()
	if !strings.Contains(logs, "https://vibemon.plant.example"+telegramWebhookPath) {
		t.Errorf("the log does not tell the URL to register with setWebhook:\n%s", logs)
	}
	if strings.Contains(logs, secret) || strings.Contains(p.Stdout.String(), secret) {
		t.Errorf("the secret is in the output:\n%s", logs)
	}
}

// The setWebhook command in docs/notifications.md registers the route the
// server serves, with the secret.
func TestTelegramWebhookDocMatchesRoute(t *testing.T) {
	doc, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	cmd := regexp.MustCompile(`(?s)curl [^\n]*/setWebhook".*?\n\s*\n`).Find(doc)
	if cmd == nil {
		t.Fatal("docs/notifications.md has no setWebhook command")
	}
	if !regexp.MustCompile(`-d url=https://\S+`+regexp.QuoteMeta(telegramWebhookPath)+`\s`).Match(cmd) ||
		!strings.Contains(string(cmd), `secret_token="$VIBEMON_TELEGRAM_WEBHOOK_SECRET"`) {
		t.Errorf("the setWebhook command\n%s\ndoes not register <public URL>%s with the secret", cmd, telegramWebhookPath)
	}
}
