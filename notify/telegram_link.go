package notify

import (
	"context"
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
	// rejects requests without it. Required to use Handler.
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
// from Telegram's webhook (Handler); Telegram allows only one of the two
// per bot at a time.
type TelegramLinker struct {
	cfg TelegramLinkerConfig
	api telegramAPI
	log *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	offset int64
}

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
	return &TelegramLinker{cfg: cfg, api: api, log: cfg.Logger}, nil
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

// Stop ends polling and waits for it. It is safe to call twice, and before
// Start.
func (l *TelegramLinker) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

type telegramUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Text string `json:"text"`
	} `json:"message"`
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
	var updates []telegramUpdate
	if err := json.Unmarshal(raw, &updates); err != nil {
		return err
	}
	for _, u := range updates {
		l.handle(ctx, u)
		if u.UpdateID >= l.offset {
			l.offset = u.UpdateID + 1
		}
	}
	return nil
}

// Handler returns the webhook endpoint for setWebhook. It accepts POSTed
// updates that carry the X-Telegram-Bot-Api-Secret-Token header equal to
// WebhookSecret (401 otherwise; 404 when no secret is configured) and
// answers 200 once the update is handled.
func (l *TelegramLinker) Handler() http.Handler {
	secret := []byte(l.cfg.WebhookSecret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(secret) == 0 {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if subtle.ConstantTimeCompare(got, secret) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var u telegramUpdate
		if err := json.NewDecoder(io.LimitReader(r.Body, maxResponse)).Decode(&u); err != nil {
			http.Error(w, "bad update", http.StatusBadRequest)
			return
		}
		l.handle(r.Context(), u)
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

func (l *TelegramLinker) handle(ctx context.Context, u telegramUpdate) {
	if u.Message == nil {
		return
	}
	code, isStart := startCode(u.Message.Text)
	if !isStart {
		return
	}
	chatID := u.Message.Chat.ID
	reply := telegramHelp
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
	rctx, cancel := context.WithTimeout(ctx, defaultTimeout)
	defer cancel()
	err := l.api.sendMessage(rctx, telegramSendMessage{ChatID: chatID, Text: reply}, l.cfg.Now)
	if err != nil && !errors.Is(err, context.Canceled) {
		l.log.Warn("telegram link reply failed", "chat_id", chatID, "err", err)
	}
}
