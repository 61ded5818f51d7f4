package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vibemon/vibemon"
)

// TelegramLinkerConfig configures TelegramLinker.
type TelegramLinkerConfig struct {
	// Token is the bot token. Required.
	Token string
	// BaseURL is the Bot API server. Defaults to DefaultTelegramURL.
	BaseURL string
	// OnLink is called for every "/start <code>" a chat sends to the bot.
	// It links the chat to the user who was issued code, and returns an
	// ENOTFOUND or EINVALID *vibemon.Error for an unknown or expired code
	// (the chat is told so) or another error for a failure (the chat is
	// asked to try again). It must tolerate the same code twice: updates
	// can be delivered again after a restart. Required.
	OnLink func(ctx context.Context, code string, chatID int64) error
	// WebhookSecret is the secret_token given to setWebhook; Handler
	// rejects requests without it. Required to use Handler (HandleWebhook
	// leaves the check to its caller).
	WebhookSecret string
	// PollTimeout is how long Telegram holds a getUpdates long poll open.
	// Defaults to 30 s.
	PollTimeout time.Duration
	// RetryDelay is the wait after a failed poll. Defaults to 5 s.
	RetryDelay time.Duration
	// HTTPClient defaults to a client that does not follow redirects.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// TelegramLinker links Telegram chats to VibeMon users with the deep-link
// flow: the app issues a one-time code, the user opens
// TelegramStartLink(bot, code), Telegram sends "/start <code>" to the bot,
// and the linker hands (code, chat id) to OnLink and answers in the chat.
//
// It receives updates either by long polling getUpdates (Start/Stop) or
// from Telegram's webhook (HandleWebhook, or Handler); Telegram allows only
// one of the two per bot at a time. Both hand each update to the same code,
// so a chat gets the same answers either way.
type TelegramLinker struct {
	cfg TelegramLinkerConfig
	api telegramAPI
	log *slog.Logger

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	offset  int64
	replies int        // webhook replies being sent in the background
	idle    *sync.Cond // signalled when replies drops to 0 (on mu)
}

// maxBackgroundReplies bounds the webhook replies sent after the webhook
// has answered; past it a reply is sent before answering, which slows
// Telegram down instead of piling up goroutines.
const maxBackgroundReplies = 32

// NewTelegramLinker returns a linker, or an EINVALID error naming the wrong
// field.
func NewTelegramLinker(cfg TelegramLinkerConfig) (*TelegramLinker, error) {
	api, err := newTelegramAPI(cfg.Token, cfg.BaseURL, cfg.HTTPClient, "TelegramLinkerConfig")
	if err != nil {
		return nil, err
	}
	if cfg.OnLink == nil {
		return nil, errInvalidf("TelegramLinkerConfig.OnLink is required.")
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &TelegramLinker{cfg: cfg, api: api, log: cfg.Logger}
	l.idle = sync.NewCond(&l.mu)
	return l, nil
}

// TelegramStartLink returns the t.me deep link that makes the user's
// Telegram app send "/start <code>" to the bot.
func TelegramStartLink(botUsername, code string) string {
	return "https://t.me/" + url.PathEscape(strings.TrimPrefix(botUsername, "@")) + "?start=" + url.QueryEscape(code)
}

// Start begins long polling getUpdates in the background until ctx ends or
// Stop is called. It returns ECONFLICT when already started.
func (l *TelegramLinker) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return vibemon.Errorf(vibemon.ECONFLICT, "telegram linker is already started.")
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go l.poll(ctx, l.done)
	return nil
}

// Stop ends polling and waits for it, and for webhook replies still being
// sent (each is bounded by 10 s). It is safe to call twice, and before
// Start.
func (l *TelegramLinker) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	l.mu.Lock()
	for l.replies > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
}

// telegramUpdate is the part of a Bot API Update the linker reads.
type telegramUpdate struct {
	UpdateID int64
	// Message is nil for other kinds of update (edited_message, ...).
	Message *telegramMessage
}

type telegramMessage struct {
	ChatID int64
	Text   string
}

// maxTelegramUpdate bounds one update's JSON; a message's text is at most
// 4096 characters, and the rest of an Update is far smaller than this.
const maxTelegramUpdate = 1 << 20

// parseTelegramUpdate decodes one Bot API Update (a JSON object with an
// integer update_id >= 0; a "message", when present, must have a chat
// with a non-zero id, and its text, when present, must be a string).
// Fields the linker does not read are ignored, as Telegram adds fields.
// Anything else is an EINVALID error.
func parseTelegramUpdate(body []byte) (telegramUpdate, error) {
	var raw struct {
		UpdateID *int64 `json:"update_id"`
		Message  *struct {
			Chat *struct {
				ID *int64 `json:"id"`
			} `json:"chat"`
			Text *string `json:"text"`
		} `json:"message"`
	}
	if len(body) > maxTelegramUpdate {
		return telegramUpdate{}, errInvalidf("A Telegram update must be at most %d bytes.", maxTelegramUpdate)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return telegramUpdate{}, errInvalidf("A Telegram update must be a JSON object.")
	}
	dec = json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return telegramUpdate{}, errInvalidf("Not a Telegram update: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return telegramUpdate{}, errInvalidf("A Telegram update must be one JSON object with nothing after it.")
	}
	if raw.UpdateID == nil || *raw.UpdateID < 0 {
		return telegramUpdate{}, errInvalidf("A Telegram update needs update_id, an integer >= 0.")
	}
	u := telegramUpdate{UpdateID: *raw.UpdateID}
	if m := raw.Message; m != nil {
		if m.Chat == nil || m.Chat.ID == nil || *m.Chat.ID == 0 {
			return telegramUpdate{}, errInvalidf("A Telegram message needs chat.id, a non-zero integer.")
		}
		u.Message = &telegramMessage{ChatID: *m.Chat.ID}
		if m.Text != nil {
			u.Message.Text = *m.Text
		}
	}
	return u, nil
}

func (l *TelegramLinker) poll(ctx context.Context, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		if err := l.pollOnce(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("telegram getUpdates failed", "err", err, "retry_in", l.cfg.RetryDelay)
			wait := l.cfg.RetryDelay
			if ra := RetryAfter(err); ra > wait {
				wait = ra
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// pollOnce fetches one batch of updates (long polling) and handles them;
// the next offset confirms them to Telegram.
func (l *TelegramLinker) pollOnce(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, l.cfg.PollTimeout+10*time.Second)
	defer cancel()
	raw, err := l.api.call(rctx, "getUpdates", map[string]any{
		"offset":          l.offset,
		"timeout":         int(l.cfg.PollTimeout / time.Second),
		"allowed_updates": []string{"message"},
	}, l.cfg.Now)
	if err != nil {
		return err
	}
	var updates []json.RawMessage
	if err := json.Unmarshal(raw, &updates); err != nil {
		return err
	}
	for _, r := range updates {
		u, err := parseTelegramUpdate(r)
		if err != nil {
			// Confirm it all the same, so that one bad update does not
			// come back for ever.
			var id struct {
				UpdateID int64 `json:"update_id"`
			}
			_ = json.Unmarshal(r, &id)
			l.log.Warn("telegram update skipped", "update_id", id.UpdateID, "err", err)
			u = telegramUpdate{UpdateID: id.UpdateID}
		}
		l.handle(ctx, u)
		if u.UpdateID >= l.offset {
			l.offset = u.UpdateID + 1
		}
	}
	return nil
}

// HandleWebhook handles one update that Telegram POSTed to the webhook;
// body is the request's raw JSON. The caller has checked the request's
// X-Telegram-Bot-Api-Secret-Token. It returns an EINVALID error when body
// is not a Telegram Update, and nil once the update is handled: a
// "/start <code>" goes through OnLink before it returns, exactly as when
// polling, and the answer to the chat is sent in the background (bounded
// by 10 s; Stop waits for it), so that the webhook can answer Telegram at
// once.
func (l *TelegramLinker) HandleWebhook(ctx context.Context, body []byte) error {
	u, err := parseTelegramUpdate(body)
	if err != nil {
		return err
	}
	chatID, reply, ok := l.link(ctx, u)
	if !ok {
		return nil
	}
	l.mu.Lock()
	if l.replies >= maxBackgroundReplies {
		l.mu.Unlock()
		l.reply(ctx, chatID, reply)
		return nil
	}
	l.replies++
	l.mu.Unlock()
	go func() {
		defer func() {
			l.mu.Lock()
			if l.replies--; l.replies == 0 {
				l.idle.Broadcast()
			}
			l.mu.Unlock()
		}()
		// The request ends when the webhook answers; the reply outlives it.
		l.reply(context.WithoutCancel(ctx), chatID, reply)
	}()
	return nil
}

// TelegramSecretHeader is the header in which Telegram's webhook sends
// the secret_token given to setWebhook.
const TelegramSecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// TelegramSecretMatches compares a request's secret header with the
// configured secret in constant time (over SHA-256 digests, so that not
// even the length is told by the timing). An empty secret never matches.
func TelegramSecretMatches(got, secret string) bool {
	if secret == "" {
		return false
	}
	g, s := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(g[:], s[:]) == 1
}

// Handler returns a plain webhook endpoint for setWebhook, for programs
// that mount the linker themselves (vibemon serve uses HandleWebhook behind
// its API's POST /api/v1/telegram/webhook). It accepts POSTed updates that
// carry the X-Telegram-Bot-Api-Secret-Token header equal to WebhookSecret
// (401 otherwise; 404 when no secret is configured), answers 400 for a
// body that is not an Update, and 200 once HandleWebhook is done.
func (l *TelegramLinker) Handler() http.Handler {
	secret := l.cfg.WebhookSecret
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if secret == "" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !TelegramSecretMatches(r.Header.Get(TelegramSecretHeader), secret) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTelegramUpdate))
		if err != nil {
			http.Error(w, "bad update", http.StatusBadRequest)
			return
		}
		if err := l.HandleWebhook(r.Context(), body); err != nil {
			http.Error(w, "bad update", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// startCode returns the code of "/start <code>" or "/start@bot <code>", and
// whether text is a /start command at all.
func startCode(text string) (code string, isStart bool) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return "", false
	}
	cmd, _, _ := strings.Cut(fields[0], "@")
	if cmd != "/start" {
		return "", false
	}
	if len(fields) < 2 || !validStartCode(fields[1]) {
		return "", true
	}
	return fields[1], true
}

// validStartCode checks Telegram's deep-link parameter alphabet: at most 64
// of A-Z, a-z, 0-9, _ and -.
func validStartCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Replies the linker sends to the chat.
const (
	telegramLinked  = "✅ This chat is now linked to VibeMon. Alerts you subscribe to will arrive here."
	telegramUnknown = "This link code is unknown or has expired. Open VibeMon, go to your notification settings and link Telegram again."
	telegramFailed  = "VibeMon could not link this chat right now. Please try the link again in a minute."
	telegramHelp    = "To receive VibeMon alerts here, open VibeMon, go to your notification settings and use the Telegram link shown there."
)

// handle is what polling does with each update: link, then answer.
func (l *TelegramLinker) handle(ctx context.Context, u telegramUpdate) {
	if chatID, reply, ok := l.link(ctx, u); ok {
		l.reply(ctx, chatID, reply)
	}
}

// link is the one place an update is acted on, whether it was polled or
// POSTed to the webhook: for "/start <code>" it calls OnLink, and it
// returns the chat and the answer to send there (ok is false when the
// update needs no answer: not a message, not a /start command).
func (l *TelegramLinker) link(ctx context.Context, u telegramUpdate) (chatID int64, reply string, ok bool) {
	if u.Message == nil || u.Message.ChatID == 0 {
		return 0, "", false
	}
	code, isStart := startCode(u.Message.Text)
	if !isStart {
		return 0, "", false
	}
	chatID = u.Message.ChatID
	reply = telegramHelp
	if code != "" {
		reply = telegramLinked
		if err := l.cfg.OnLink(ctx, code, chatID); err != nil {
			switch vibemon.ErrorCode(err) {
			case vibemon.ENOTFOUND, vibemon.EINVALID, vibemon.ECONFLICT:
				reply = telegramUnknown
			default:
				reply = telegramFailed
				l.log.Error("telegram link failed", "chat_id", chatID, "err", err)
			}
		} else {
			l.log.Info("telegram chat linked", "chat_id", chatID)
		}
	}
	return chatID, reply, true
}

// reply sends text to the chat, bounded by defaultTimeout; a failure is
// logged (the user can open the link again).
func (l *TelegramLinker) reply(ctx context.Context, chatID int64, text string) {
	rctx, cancel := context.WithTimeout(ctx, defaultTimeout)
	defer cancel()
	err := l.api.sendMessage(rctx, telegramSendMessage{ChatID: chatID, Text: text}, l.cfg.Now)
	if err != nil && !errors.Is(err, context.Canceled) {
		l.log.Warn("telegram link reply failed", "chat_id", chatID, "err", err)
	}
}
