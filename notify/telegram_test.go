package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/notify"
)

const botToken = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"

// botAPI is a local Bot API server. It checks what every Bot API request
// must look like (POST application/json to /bot<token>/<method>), records
// sendMessage calls and serves getUpdates from a queue the way Telegram
// does: updates below the offset are confirmed and dropped.
type botAPI struct {
	t       *testing.T
	mu      sync.Mutex
	sent    []map[string]any
	updates []map[string]any
	offsets []int64
	// reply, when set, answers sendMessage instead of {"ok":true}.
	reply func(w http.ResponseWriter)
}

func (b *botAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+botToken+"/")
	if !ok {
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		b.t.Errorf("%s %s with Content-Type %q, want POST application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		b.t.Errorf("%s body is not JSON: %v", method, err)
	}
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "sendMessage":
		b.mu.Lock()
		b.sent = append(b.sent, req)
		reply := b.reply
		b.mu.Unlock()
		if reply != nil {
			reply(w)
			return
		}
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"date":1772353800,"chat":{"id":1,"type":"private"}}}`)
	case "getUpdates":
		offset, _ := req["offset"].(float64)
		b.mu.Lock()
		b.offsets = append(b.offsets, int64(offset))
		var out []map[string]any
		keep := b.updates[:0]
		for _, u := range b.updates {
			if int64(u["update_id"].(int)) >= int64(offset) {
				keep = append(keep, u)
				out = append(out, u)
			}
		}
		b.updates = keep
		b.mu.Unlock()
		if len(out) == 0 {
			time.Sleep(20 * time.Millisecond) // a very short long poll
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": out})
	default:
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found: method not found"}`, http.StatusNotFound)
	}
}

func (b *botAPI) sentMessages() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.sent...)
}

func startBotAPI(t *testing.T) (*botAPI, *httptest.Server) {
	t.Helper()
	b := &botAPI{t: t}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

func TestTelegramSendMessageShape(t *testing.T) {
	b, srv := startBotAPI(t)
	tg, err := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	m := alertMessage()
	m.Title = "CRITICAL: Pump <3> & motor"
	if err := tg.Send(context.Background(), notify.Recipient{Address: "-1001234567890"}, m, "k"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	sent := b.sentMessages()
	if len(sent) != 1 {
		t.Fatalf("Bot API got %d sendMessage calls, want 1", len(sent))
	}
	req := sent[0]
	if req["chat_id"] != float64(-1001234567890) {
		t.Errorf("chat_id = %v, want the number -1001234567890", req["chat_id"])
	}
	if req["parse_mode"] != "HTML" {
		t.Errorf("parse_mode = %v, want HTML", req["parse_mode"])
	}
	if lp, _ := req["link_preview_options"].(map[string]any); lp["is_disabled"] != true {
		t.Errorf("link_preview_options = %v, want is_disabled true", req["link_preview_options"])
	}
	text, _ := req["text"].(string)
	for _, want := range []string{
		"<b>CRITICAL: Pump &lt;3&gt; &amp; motor</b>",
		m.Text,
		`<a href="https://vibemon.plant.example/alerts/42">`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	kb, _ := req["reply_markup"].(map[string]any)["inline_keyboard"].([]any)
	if len(kb) != 1 || kb[0].([]any)[0].(map[string]any)["url"] != m.Link {
		t.Errorf("reply_markup = %v, want one URL button to the alert", req["reply_markup"])
	}
}

func TestTelegramNoButtonForLocalLinks(t *testing.T) {
	b, srv := startBotAPI(t)
	tg, _ := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL})
	m := alertMessage()
	m.Link = "http://localhost:8080/alerts/42"
	if err := tg.Send(context.Background(), notify.Recipient{Address: "42"}, m, "k"); err != nil {
		t.Fatal(err)
	}
	req := b.sentMessages()[0]
	if _, ok := req["reply_markup"]; ok {
		t.Errorf("reply_markup %v for a localhost link: Telegram rejects such buttons", req["reply_markup"])
	}
	if !strings.Contains(req["text"].(string), m.Link) {
		t.Errorf("the link should still be in the text")
	}
}

func TestTelegramErrorMapping(t *testing.T) {
	// Bodies as the Bot API returns them.
	tests := []struct {
		name      string
		status    int
		body      string
		permanent bool
		wait      time.Duration
	}{
		{name: "flood control", status: 429, body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}`, wait: 35 * time.Second},
		{name: "chat not found", status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, permanent: true},
		{name: "bot blocked", status: 403, body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`, permanent: true},
		{name: "bot kicked", status: 403, body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the group chat"}`, permanent: true},
		{name: "bad token", status: 401, body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`, permanent: true},
		{name: "group migrated", status: 400, body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234}}`, permanent: true},
		{name: "server error", status: 500, body: `{"ok":false,"error_code":500,"description":"Internal Server Error"}`},
		{name: "gateway page", status: 502, body: `<html>502 Bad Gateway</html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, srv := startBotAPI(t)
			b.reply = func(w http.ResponseWriter) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}
			tg, _ := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL})
			err := tg.Send(context.Background(), notify.Recipient{Address: "42"}, alertMessage(), "k")
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if got := notify.RetryAfter(err); got != tt.wait {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wait)
			}
			if strings.Contains(err.Error(), botToken) {
				t.Errorf("error %q leaks the bot token", err)
			}
		})
	}
}

func TestTelegramNetworkErrorIsTemporaryAndHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	tg, _ := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL, Timeout: time.Second})
	err := tg.Send(context.Background(), notify.Recipient{Address: "42"}, alertMessage(), "k")
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("err = %v, want temporary", err)
	}
	if strings.Contains(err.Error(), botToken) {
		t.Errorf("error %q leaks the bot token", err)
	}
}

func TestTelegramRejectsBadInputPermanently(t *testing.T) {
	_, srv := startBotAPI(t)
	tg, _ := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL})
	long := alertMessage()
	long.Text = strings.Repeat("x", 10000) // cut to fit, not rejected
	for name, tc := range map[string]struct {
		to   string
		m    notify.Message
		key  string
		fail bool
	}{
		"chat id not a number": {to: "ana", m: alertMessage(), key: "k", fail: true},
		"no key":               {to: "42", m: alertMessage(), fail: true},
		"no title":             {to: "42", m: notify.Message{Text: "x", Event: notify.EventOpened}, key: "k", fail: true},
		"bad event":            {to: "42", m: notify.Message{Title: "x", Text: "x", Event: "fired"}, key: "k", fail: true},
		"channel username":     {to: "@plant_alerts", m: alertMessage(), key: "k"},
		"very long text":       {to: "42", m: long, key: "k"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tg.Send(context.Background(), notify.Recipient{Address: tc.to}, tc.m, tc.key)
			if tc.fail && !notify.IsPermanent(err) {
				t.Errorf("err = %v, want permanent", err)
			}
			if !tc.fail && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
		})
	}
}

// linkRecorder is an OnLink that knows one valid code.
type linkRecorder struct {
	mu    sync.Mutex
	links []string
}

func (l *linkRecorder) onLink(_ context.Context, code string, chatID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.links = append(l.links, fmt.Sprintf("%s->%d", code, chatID))
	switch code {
	case "abc123":
		return nil
	case "dbdown":
		return errors.New("database is locked")
	}
	return vibemon.Errorf(vibemon.ENOTFOUND, "no such code")
}

func (l *linkRecorder) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.links...)
}

func update(id int, chatID int64, text string) map[string]any {
	return map[string]any{"update_id": id, "message": map[string]any{
		"message_id": id, "date": 1772353800, "text": text,
		"chat": map[string]any{"id": chatID, "type": "private"},
	}}
}

// replies maps chat id to the texts the bot sent there.
func replies(b *botAPI) map[int64][]string {
	out := map[int64][]string{}
	for _, s := range b.sentMessages() {
		id := int64(s["chat_id"].(float64))
		out[id] = append(out[id], s["text"].(string))
	}
	return out
}

func TestTelegramLinkerLongPolling(t *testing.T) {
	b, srv := startBotAPI(t)
	b.updates = []map[string]any{
		update(101, 111, "/start abc123"),
		update(102, 222, "hello bot"),
		update(103, 333, "/start@VibeMonBot XYZ789"),
		update(104, 444, "/start"),
		update(105, 555, "/start dbdown"),
		{"update_id": 106, "edited_message": map[string]any{"text": "/start abc123"}},
		{"update_id": 107, "message": map[string]any{"text": "/start abc123"}}, // no chat: skipped, yet confirmed
	}
	rec := &linkRecorder{}
	l, err := notify.NewTelegramLinker(notify.TelegramLinkerConfig{
		Token: botToken, BaseURL: srv.URL, OnLink: rec.onLink, PollTimeout: time.Second, RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		offsets := append([]int64(nil), b.offsets...)
		b.mu.Unlock()
		if len(offsets) >= 2 && offsets[len(offsets)-1] == 108 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("getUpdates offsets %v, want a poll with offset 108 confirming all updates", offsets)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Stop()
	l.Stop() // safe twice

	if got, want := strings.Join(rec.got(), " "), "abc123->111 XYZ789->333 dbdown->555"; got != want {
		t.Errorf("OnLink calls %q, want %q", got, want)
	}
	r := replies(b)
	for chat, want := range map[int64]string{111: "now linked", 333: "unknown or has expired", 444: "notification settings", 555: "try the link again"} {
		if len(r[chat]) != 1 || !strings.Contains(r[chat][0], want) {
			t.Errorf("chat %d got replies %q, want one containing %q", chat, r[chat], want)
		}
	}
	if len(r[222]) != 0 {
		t.Errorf("chat 222 (no command) got replies %q, want none", r[222])
	}
	if b.offsets[0] != 0 {
		t.Errorf("first getUpdates offset %d, want 0", b.offsets[0])
	}
}

func TestTelegramLinkerStopWithoutStartAndDoubleStart(t *testing.T) {
	_, srv := startBotAPI(t)
	l, _ := notify.NewTelegramLinker(notify.TelegramLinkerConfig{Token: botToken, BaseURL: srv.URL, OnLink: (&linkRecorder{}).onLink})
	l.Stop()
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); vibemon.ErrorCode(err) != vibemon.ECONFLICT {
		t.Errorf("second Start = %v, want ECONFLICT", err)
	}
	l.Stop()
}

func TestTelegramLinkerWebhook(t *testing.T) {
	b, srv := startBotAPI(t)
	rec := &linkRecorder{}
	l, _ := notify.NewTelegramLinker(notify.TelegramLinkerConfig{
		Token: botToken, BaseURL: srv.URL, OnLink: rec.onLink, WebhookSecret: "hook-secret_1",
	})
	h := l.Handler()
	post := func(method, secret string, body any) int {
		raw, _ := json.Marshal(body)
		req := httptest.NewRequest(method, "/telegram/webhook", strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	tests := []struct {
		name   string
		method string
		secret string
		body   any
		want   int
	}{
		{name: "no secret header", method: "POST", body: update(1, 111, "/start abc123"), want: 401},
		{name: "wrong secret", method: "POST", secret: "guess", body: update(1, 111, "/start abc123"), want: 401},
		{name: "GET", method: "GET", secret: "hook-secret_1", want: 405},
		{name: "not JSON", method: "POST", secret: "hook-secret_1", body: "][", want: 400},
		{name: "not an update", method: "POST", secret: "hook-secret_1", body: map[string]any{"message": map[string]any{"chat": map[string]any{"id": 111}, "text": "/start abc123"}}, want: 400},
		{name: "secret with a suffix", method: "POST", secret: "hook-secret_1x", body: update(1, 111, "/start abc123"), want: 401},
		{name: "link", method: "POST", secret: "hook-secret_1", body: update(2, 111, "/start abc123"), want: 200},
	}
	for _, tt := range tests {
		if got := post(tt.method, tt.secret, tt.body); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	l.Stop() // waits for the reply, sent after the webhook answered
	if got := rec.got(); len(got) != 1 || got[0] != "abc123->111" {
		t.Errorf("OnLink calls %v, want only the authenticated one", got)
	}
	if r := replies(b); len(r[111]) != 1 {
		t.Errorf("chat 111 got %d replies, want 1", len(r[111]))
	}

	noSecret, _ := notify.NewTelegramLinker(notify.TelegramLinkerConfig{Token: botToken, BaseURL: srv.URL, OnLink: rec.onLink})
	w := httptest.NewRecorder()
	noSecret.Handler().ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("{}")))
	if w.Code != 404 {
		t.Errorf("handler without a configured secret answered %d, want 404", w.Code)
	}
}

// The webhook path answers every kind of update exactly as polling does
// (TestTelegramLinkerLongPolling has the same updates and replies).
func TestTelegramLinkerHandleWebhookAnswersAsPolling(t *testing.T) {
	b, srv := startBotAPI(t)
	rec := &linkRecorder{}
	l, err := notify.NewTelegramLinker(notify.TelegramLinkerConfig{Token: botToken, BaseURL: srv.URL, OnLink: rec.onLink})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []map[string]any{
		update(101, 111, "/start abc123"),
		update(102, 222, "hello bot"),
		update(103, 333, "/start@VibeMonBot XYZ789"),
		update(104, 444, "/start"),
		update(105, 555, "/start dbdown"),
		{"update_id": 106, "edited_message": map[string]any{"text": "/start abc123", "chat": map[string]any{"id": 666}}},
	} {
		body, _ := json.Marshal(u)
		if err := l.HandleWebhook(context.Background(), body); err != nil {
			t.Fatalf("update %v: %v", u["update_id"], err)
		}
	}
	l.Stop()
	if got, want := strings.Join(rec.got(), " "), "abc123->111 XYZ789->333 dbdown->555"; got != want {
		t.Errorf("OnLink calls %q, want %q", got, want)
	}
	r := replies(b)
	for chat, want := range map[int64]string{111: "now linked", 333: "unknown or has expired", 444: "notification settings", 555: "try the link again"} {
		if len(r[chat]) != 1 || !strings.Contains(r[chat][0], want) {
			t.Errorf("chat %d got replies %q, want one containing %q", chat, r[chat], want)
		}
	}
	if len(r[222])+len(r[666]) != 0 {
		t.Errorf("chats 222 and 666 got replies %q %q, want none", r[222], r[666])
	}

	for _, bad := range []string{`{"message":{"chat":{"id":1},"text":"/start abc123"}}`, `[]`, `{"update_id":1,"message":{"text":"/start abc123"}}`} {
		if err := l.HandleWebhook(context.Background(), []byte(bad)); vibemon.ErrorCode(err) != vibemon.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", bad, err)
		}
	}
	if n := len(rec.got()); n != 3 {
		t.Errorf("OnLink called %d times after bad updates, want still 3", n)
	}
}

// HandleWebhook returns once the chat is linked, without waiting for
// Telegram to take the reply; Stop waits for the reply.
func TestTelegramLinkerWebhookDoesNotWaitForTheReply(t *testing.T) {
	b, srv := startBotAPI(t)
	release := make(chan struct{})
	b.reply = func(w http.ResponseWriter) {
		<-release
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":1}}`)
	}
	rec := &linkRecorder{}
	l, _ := notify.NewTelegramLinker(notify.TelegramLinkerConfig{Token: botToken, BaseURL: srv.URL, OnLink: rec.onLink})
	body, _ := json.Marshal(update(1, 111, "/start abc123"))
	if err := l.HandleWebhook(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("OnLink calls %v when HandleWebhook returned, want the link done", got)
	}
	stopped := make(chan struct{})
	go func() { l.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while the reply was still being sent")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if r := replies(b); len(r[111]) != 1 {
		t.Errorf("chat 111 got %q, want one reply", r[111])
	}
}

func TestTelegramSecretMatches(t *testing.T) {
	for _, tc := range []struct {
		got, secret string
		want        bool
	}{
		{"s3cret_-X", "s3cret_-X", true}, {"s3cret_-x", "s3cret_-X", false}, {"s3cret", "s3cret_-X", false},
		{"s3cret_-X ", "s3cret_-X", false}, {"", "s3cret_-X", false}, {"", "", false},
	} {
		if got := notify.TelegramSecretMatches(tc.got, tc.secret); got != tc.want {
			t.Errorf("TelegramSecretMatches(%q, %q) = %v, want %v", tc.got, tc.secret, got, tc.want)
		}
	}
}

func TestTelegramStartLink(t *testing.T) {
	if got, want := notify.TelegramStartLink("@VibeMonBot", "abc_123-X"), "https://t.me/VibeMonBot?start=abc_123-X"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
