package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/logtest"
	"github.com/vibemon/vibemon/notify"
)

const (
	testBotToken      = "123456:test-token"
	testWebhookSecret = "Wh_s3cret-Value-0123456789"
)

// localBotAPI is a local Telegram Bot API server that records the chat
// messages the bot sends.
type localBotAPI struct {
	mu   sync.Mutex
	sent map[string][]string // chat id -> texts
	got  chan struct{}       // one value per sendMessage
}

func (b *localBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/bot"+testBotToken+"/sendMessage" {
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
		return
	}
	var m struct {
		ChatID json.Number `json:"chat_id"`
		Text   string      `json:"text"`
	}
	_ = json.NewDecoder(r.Body).Decode(&m)
	b.mu.Lock()
	b.sent[m.ChatID.String()] = append(b.sent[m.ChatID.String()], m.Text)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok":true,"result":{"message_id":1}}`)
	b.got <- struct{}{}
}

func (b *localBotAPI) texts(chat int64) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sent[strconv.FormatInt(chat, 10)]...)
}

// syncBuffer is a log sink goroutines may write to while the test reads.
type syncBuffer = logtest.Buffer

// webhookEnv is a test server whose Telegram webhook is the real linker,
// linking chats in the real store as vibemon serve does.
type webhookEnv struct {
	*testEnv
	bot    *localBotAPI
	linker *notify.TelegramLinker
	logs   *syncBuffer
}

func newWebhookEnv(t *testing.T) *webhookEnv {
	t.Helper()
	bot := &localBotAPI{sent: map[string][]string{}, got: make(chan struct{}, 16)}
	api := httptest.NewServer(bot)
	t.Cleanup(api.Close)
	w := &webhookEnv{bot: bot, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.testEnv = newTestEnv(t, func(c *Config) {
		c.Logger = log
		c.MaxBodyBytes = DefaultMaxBodyBytes // the webhook's own 1 MiB is lower
		var err error
		w.linker, err = notify.NewTelegramLinker(notify.TelegramLinkerConfig{
			Token: testBotToken, BaseURL: api.URL, Logger: log,
			OnLink: func(ctx context.Context, code string, chatID int64) error {
				return c.Store.LinkTelegram(ctx, code, strconv.FormatInt(chatID, 10), testNow)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Notifications.TelegramWebhook = &TelegramWebhook{Secret: testWebhookSecret, Update: w.linker.HandleWebhook}
	})
	t.Cleanup(w.linker.Stop)
	return w
}

// post sends body to the webhook with the secret header (none when secret
// is empty).
func (w *webhookEnv) post(t *testing.T, secret string, body any) response {
	t.Helper()
	req := request{method: "POST", path: "/api/v1/telegram/webhook", body: body}
	if secret != "" {
		req.header = map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret}
	}
	return w.do(t, req)
}

// nextReply waits for the bot's next sendMessage.
func (w *webhookEnv) nextReply(t *testing.T) {
	t.Helper()
	select {
	case <-w.bot.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot sent no reply within 10 s")
	}
}

func (w *webhookEnv) chatOf(t *testing.T, u *vibemon.User) string {
	t.Helper()
	p, err := w.store.GetNotificationPrefs(context.Background(), u.OrgID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p.TelegramChatID
}

func startUpdate(id int, chat int64, text string) map[string]any {
	return map[string]any{"update_id": id, "message": map[string]any{
		"message_id": id, "date": testNow.Unix(), "text": text,
		"chat": map[string]any{"id": chat, "type": "private"},
		"from": map[string]any{"id": chat, "is_bot": false, "first_name": "Ada"},
	}}
}

func TestTelegramWebhookLinksTheChat(t *testing.T) {
	w := newWebhookEnv(t)
	a := w.newTenant(t, "acme")
	u := a.users[vibemon.RoleEngineer]
	if err := w.store.CreateTelegramLink(context.Background(), u.OrgID, u.ID, "Code_ok-1", testNow.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var ok map[string]bool
	w.post(t, testWebhookSecret, startUpdate(1, 4242, "/start Code_ok-1")).wantStatus(t, 200).decode(t, &ok)
	if !ok["ok"] {
		t.Errorf("answer %v, want {\"ok\":true}", ok)
	}
	if chat := w.chatOf(t, u); chat != "4242" {
		t.Errorf("after the webhook answered, the user's chat is %q, want 4242", chat)
	}
	w.nextReply(t)
	if r := w.bot.texts(4242); len(r) != 1 || !strings.Contains(r[0], "now linked") {
		t.Errorf("chat 4242 was told %q, want that it is linked", r)
	}
	// Telegram sends an update again when it missed the answer: still linked, told again.
	w.post(t, testWebhookSecret, startUpdate(1, 4242, "/start Code_ok-1")).wantStatus(t, 200)
	w.nextReply(t)
	if r := w.bot.texts(4242); len(r) != 2 || !strings.Contains(r[1], "now linked") || w.chatOf(t, u) != "4242" {
		t.Errorf("after a redelivery: chat told %q, user's chat %q", r, w.chatOf(t, u))
	}
	if n := w.counter(t, "vibemon_telegram_webhook_requests_total"); n != 2 {
		t.Errorf("webhook requests counted %v, want 2", n)
	}
}

func TestTelegramWebhookRefusesWithoutTheSecret(t *testing.T) {
	w := newWebhookEnv(t)
	a := w.newTenant(t, "acme")
	u := a.users[vibemon.RoleViewer]
	if err := w.store.CreateTelegramLink(context.Background(), u.OrgID, u.ID, "Code_ok-2", testNow.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{
		"missing": "", "wrong": "guess", "prefix": testWebhookSecret[:10], "longer": testWebhookSecret + "x",
		"other case": strings.ToUpper(testWebhookSecret),
	} {
		t.Run(name, func(t *testing.T) {
			w.post(t, secret, startUpdate(2, 777, "/start Code_ok-2")).wantError(t, vibemon.EUNAUTHORIZED)
		})
	}
	// Two secret headers: refused too, though one is right.
	hr, _ := http.NewRequest("POST", w.srv.URL+"/api/v1/telegram/webhook", strings.NewReader(`{"update_id":2,"message":{"chat":{"id":777},"text":"/start Code_ok-2"}}`))
	hr.Header.Add("X-Telegram-Bot-Api-Secret-Token", testWebhookSecret)
	hr.Header.Add("X-Telegram-Bot-Api-Secret-Token", "guess")
	res, err := w.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("two secret headers: status %d, want 401", res.StatusCode)
	}
	// A user's token is no secret either.
	w.do(t, request{method: "POST", path: "/api/v1/telegram/webhook", token: a.token(vibemon.RoleOwner), body: startUpdate(2, 777, "/start Code_ok-2")}).wantError(t, vibemon.EUNAUTHORIZED)

	if chat := w.chatOf(t, u); chat != "" {
		t.Errorf("refused updates linked chat %q", chat)
	}
	w.linker.Stop() // no reply may be pending
	if r := w.bot.texts(777); len(r) != 0 {
		t.Errorf("refused updates made the bot say %q", r)
	}
	if n := w.counter(t, "vibemon_telegram_webhook_requests_total"); n != 7 {
		t.Errorf("refusals counted %v, want 7", n)
	}
	logs := w.logs.String()
	if !strings.Contains(logs, "telegram webhook refused") || !strings.Contains(logs, "reason=missing_secret") || !strings.Contains(logs, "reason=wrong_secret") {
		t.Errorf("refusals are not logged with their reason:\n%s", logs)
	}
	if strings.Contains(logs, testWebhookSecret) || strings.Contains(logs, testWebhookSecret[:10]) {
		t.Errorf("the logs show the secret:\n%s", logs)
	}
}

func TestTelegramWebhookRejectsWhatIsNotAnUpdate(t *testing.T) {
	w := newWebhookEnv(t)
	a := w.newTenant(t, "acme")
	u := a.users[vibemon.RoleViewer]
	if err := w.store.CreateTelegramLink(context.Background(), u.OrgID, u.ID, "Code_ok-3", testNow.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]any{
		"empty":            "",
		"not JSON":         "/start Code_ok-3",
		"array":            []any{startUpdate(3, 888, "/start Code_ok-3")},
		"no update_id":     map[string]any{"message": map[string]any{"chat": map[string]any{"id": 888}, "text": "/start Code_ok-3"}},
		"update_id string": map[string]any{"update_id": "3", "message": map[string]any{"chat": map[string]any{"id": 888}, "text": "/start Code_ok-3"}},
		"message no chat":  map[string]any{"update_id": 3, "message": map[string]any{"text": "/start Code_ok-3"}},
		"two objects":      `{"update_id":3}{"update_id":4}`,
	} {
		t.Run(name, func(t *testing.T) {
			w.post(t, testWebhookSecret, body).wantError(t, vibemon.EINVALID)
		})
	}
	big := `{"update_id":3,"message":{"chat":{"id":888},"text":"` + strings.Repeat("x", maxTelegramUpdate) + `"}}`
	if msg := w.post(t, testWebhookSecret, big).wantError(t, vibemon.ETOOLARGE); !strings.Contains(msg.Message, "1048576") {
		t.Errorf("too large: %q, want the 1 MiB limit named", msg.Message)
	}
	if chat := w.chatOf(t, u); chat != "" {
		t.Errorf("rejected bodies linked chat %q", chat)
	}
	w.linker.Stop()
	if r := w.bot.texts(888); len(r) != 0 {
		t.Errorf("rejected bodies made the bot say %q", r)
	}
}

// Unknown and expired codes, a bare /start and other messages get what
// the long poller answers (notify's TestTelegramLinkerLongPolling).
func TestTelegramWebhookAnswersAsThePoller(t *testing.T) {
	w := newWebhookEnv(t)
	a := w.newTenant(t, "acme")
	u := a.users[vibemon.RoleAdmin]
	if err := w.store.CreateTelegramLink(context.Background(), u.OrgID, u.ID, "Code_old-4", testNow.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		chat int64
		text string
		want string // "" for no reply
	}{
		{901, "/start Code_old-4", "unknown or has expired"},
		{902, "/start NoSuchCode", "unknown or has expired"},
		{903, "/start", "notification settings"},
		{904, "hello bot", ""},
		{905, "/start " + strings.Repeat("a", 65), "notification settings"}, // not a deep-link code
	} {
		w.post(t, testWebhookSecret, startUpdate(10+i, tc.chat, tc.text)).wantStatus(t, 200)
		if tc.want != "" {
			w.nextReply(t)
		}
	}
	w.post(t, testWebhookSecret, map[string]any{"update_id": 20, "edited_message": map[string]any{"chat": map[string]any{"id": 906}, "text": "/start Code_old-4"}}).wantStatus(t, 200)
	w.linker.Stop()
	for chat, want := range map[int64]string{901: "unknown or has expired", 902: "unknown or has expired", 903: "notification settings", 905: "notification settings"} {
		if r := w.bot.texts(chat); len(r) != 1 || !strings.Contains(r[0], want) {
			t.Errorf("chat %d was told %q, want one reply with %q", chat, r, want)
		}
	}
	if r := append(w.bot.texts(904), w.bot.texts(906)...); len(r) != 0 {
		t.Errorf("a plain message and an edit got replies %q", r)
	}
	if chat := w.chatOf(t, u); chat != "" {
		t.Errorf("an expired code linked chat %q", chat)
	}
}

// Without a webhook the path is unknown, as it was before there was one.
func TestTelegramWebhookOffIsNoRoute(t *testing.T) {
	e := newTestEnv(t)
	res := e.do(t, request{method: "POST", path: "/api/v1/telegram/webhook", header: map[string]string{"X-Telegram-Bot-Api-Secret-Token": "anything"},
		body: startUpdate(1, 1, "/start x")})
	if msg := res.wantError(t, vibemon.ENOTFOUND); !strings.Contains(msg.Message, "no route") {
		t.Errorf("message %q, want the no-route answer", msg.Message)
	}
}
