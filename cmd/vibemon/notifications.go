package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/httpapi"
	"github.com/vibemon/vibemon/notify"
)

// notifySettings are the notification settings (docs/notifications.md).
// A channel without its settings is off.
type notifySettings struct {
	PublicURL      string
	SMTPURL        string
	SMTPFrom       string
	TelegramToken  string
	TelegramAPIURL string
	TelegramBot    string
	// TelegramWebhookSecret, when set, makes the server take the bot's
	// updates on POST /api/v1/telegram/webhook instead of long polling.
	// Never logged nor printed.
	TelegramWebhookSecret string
	FCMCredentials        string
	FCMURL                string
	FCMTokenURL           string

	channels *notify.Channels // built and checked by parseNotify
}

var (
	telegramBotName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{4,31}$`)
	// Telegram's alphabet and length for setWebhook's secret_token.
	// Telegram takes 1-256 characters; the secret is the webhook's only
	// credential and a wrong one costs an attacker a request, so we want
	// at least 16 (about 95 bits).
	telegramWebhookSecret = regexp.MustCompile(`^[A-Za-z0-9_-]{16,256}$`)
)

// telegramWebhookPath is where Telegram's webhook must point (httpapi's
// route; the setWebhook command in docs/notifications.md uses it).
const telegramWebhookPath = "/api/v1/telegram/webhook"

// parseNotify reads the VIBEMON_* notification variables and builds the
// senders, so that a wrong value stops the start with one line naming it.
// Secrets (passwords, the bot token) never appear in the message.
func parseNotify(getenv func(string) string) (notifySettings, error) {
	n := notifySettings{
		PublicURL: strings.TrimRight(getenv("VIBEMON_PUBLIC_URL"), "/"), SMTPURL: getenv("VIBEMON_SMTP_URL"),
		SMTPFrom: getenv("VIBEMON_SMTP_FROM"), TelegramToken: getenv("VIBEMON_TELEGRAM_TOKEN"),
		TelegramAPIURL: getenv("VIBEMON_TELEGRAM_API_URL"), TelegramBot: strings.TrimPrefix(getenv("VIBEMON_TELEGRAM_BOT"), "@"),
		FCMCredentials: getenv("VIBEMON_FCM_CREDENTIALS"), FCMURL: getenv("VIBEMON_FCM_URL"),
		FCMTokenURL: getenv("VIBEMON_FCM_TOKEN_URL"), channels: &notify.Channels{},
		TelegramWebhookSecret: getenv("VIBEMON_TELEGRAM_WEBHOOK_SECRET"),
	}
	if n.PublicURL != "" && !isHTTPURL(n.PublicURL) {
		return n, &settingError{"", "VIBEMON_PUBLIC_URL", "must be the panel's http(s):// address as users reach it, e.g. https://vibemon.plant.example"}
	}
	for _, v := range [][2]string{{"VIBEMON_TELEGRAM_API_URL", n.TelegramAPIURL}, {"VIBEMON_FCM_URL", n.FCMURL}, {"VIBEMON_FCM_TOKEN_URL", n.FCMTokenURL}} {
		if v[1] != "" && !isHTTPURL(v[1]) {
			return n, &settingError{"", v[0], "must be an http(s):// URL (it only points tests or a self-hosted API elsewhere)"}
		}
	}
	if n.SMTPFrom != "" {
		if _, err := mail.ParseAddress(n.SMTPFrom); err != nil {
			return n, &settingError{"", "VIBEMON_SMTP_FROM", fmt.Sprintf("%q is not an address such as \"VibeMon <alerts@plant.example>\"", n.SMTPFrom)}
		}
	}
	if n.SMTPURL != "" {
		raw := n.SMTPURL
		if u, err := url.Parse(raw); err == nil && n.SMTPFrom != "" && u.Query().Get("from") == "" {
			q := u.Query()
			q.Set("from", n.SMTPFrom)
			u.RawQuery = q.Encode()
			raw = u.String()
		}
		cfg, err := notify.ParseSMTPURL(raw)
		if err == nil {
			var e *notify.Email
			if e, err = notify.NewEmail(cfg); err == nil {
				n.channels.Register(notify.ChannelEmail, e)
			}
		}
		if err != nil {
			return n, &settingError{"", "VIBEMON_SMTP_URL", oneLine(err) + " (form: smtp[s]://user:pass@host:port?from=..., or set VIBEMON_SMTP_FROM)"}
		}
	}
	if n.TelegramToken != "" {
		if strings.ContainsAny(n.TelegramToken, " \t\r\n/") || !strings.Contains(n.TelegramToken, ":") {
			return n, &settingError{"", "VIBEMON_TELEGRAM_TOKEN", "is not a bot token from @BotFather (123456:ABC...)"}
		}
		if n.TelegramBot != "" && !telegramBotName.MatchString(n.TelegramBot) {
			return n, &settingError{"", "VIBEMON_TELEGRAM_BOT", fmt.Sprintf("%q is not a bot user name (5-32 of A-Z a-z 0-9 _)", n.TelegramBot)}
		}
		tg, err := notify.NewTelegram(notify.TelegramConfig{Token: n.TelegramToken, BaseURL: n.TelegramAPIURL})
		if err != nil {
			return n, &settingError{"", "VIBEMON_TELEGRAM_TOKEN", oneLine(err)}
		}
		n.channels.Register(notify.ChannelTelegram, tg)
	}
	if n.TelegramWebhookSecret != "" {
		// The value is never part of the message: it is a password.
		if !telegramWebhookSecret.MatchString(n.TelegramWebhookSecret) {
			return n, &settingError{"", "VIBEMON_TELEGRAM_WEBHOOK_SECRET", fmt.Sprintf("must be 16-256 characters of A-Z a-z 0-9 _ - (Telegram's alphabet for setWebhook's secret_token; at least 16 so it cannot be guessed), e.g. from `openssl rand -hex 32`; the value given has %d characters and is not shown", len(n.TelegramWebhookSecret))}
		}
		if n.TelegramToken == "" {
			return n, &settingError{"", "VIBEMON_TELEGRAM_WEBHOOK_SECRET", "is set but VIBEMON_TELEGRAM_TOKEN is not: the webhook receives the bot's updates, so set the bot token too, or unset the secret"}
		}
	}
	if n.FCMCredentials != "" {
		key, err := os.ReadFile(n.FCMCredentials)
		if err != nil {
			return n, &settingError{"", "VIBEMON_FCM_CREDENTIALS", fmt.Sprintf("cannot read the service-account key %s: %v", n.FCMCredentials, errWithoutPath(err))}
		}
		push, err := notify.NewPush(notify.PushConfig{Credentials: key, BaseURL: n.FCMURL, TokenURL: n.FCMTokenURL})
		if err != nil {
			return n, &settingError{"", "VIBEMON_FCM_CREDENTIALS", oneLine(err)}
		}
		n.channels.Register(notify.ChannelPush, push)
	}
	n.channels.Register(notify.ChannelWebhook, notify.NewWebhook(notify.WebhookConfig{}))
	return n, nil
}

func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}

// oneLine returns the user-facing message of err on one line.
func oneLine(err error) string {
	msg := vibemon.ErrorMessage(err)
	if vibemon.ErrorCode(err) == vibemon.EINTERNAL {
		msg = err.Error()
	}
	return strings.Join(strings.Fields(msg), " ")
}

func errWithoutPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// telegramLinks is what the API's telegram-link endpoint and the bot share.
type telegramLinks struct {
	store vibemon.Store
	bot   string
	now   func() time.Time
}

// NewLinkCode stores a one-time /start code for the user and returns it
// with the bot link (empty when VIBEMON_TELEGRAM_BOT is unset).
func (t *telegramLinks) NewLinkCode(ctx context.Context, orgID, userID int64) (code, link string, expires time.Time, err error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", "", time.Time{}, err
	}
	code = base64.RawURLEncoding.EncodeToString(b)
	expires = t.now().Add(vibemon.TelegramLinkTTL)
	if err := t.store.CreateTelegramLink(ctx, orgID, userID, code, expires); err != nil {
		return "", "", time.Time{}, err
	}
	if t.bot != "" {
		link = notify.TelegramStartLink(t.bot, code)
	}
	return code, link, expires, nil
}

// newTelegramLinker returns the linker that hands /start <code> to the
// store, whether the updates are polled or come to the webhook.
func newTelegramLinker(n notifySettings, store vibemon.Store, log *slog.Logger) (*notify.TelegramLinker, error) {
	l, err := notify.NewTelegramLinker(notify.TelegramLinkerConfig{
		Token: n.TelegramToken, BaseURL: n.TelegramAPIURL, Logger: log,
		OnLink: func(ctx context.Context, code string, chatID int64) error {
			return store.LinkTelegram(ctx, code, strconv.FormatInt(chatID, 10), time.Now())
		},
	})
	if err != nil {
		return nil, &settingError{"", "VIBEMON_TELEGRAM_TOKEN", oneLine(err)}
	}
	return l, nil
}

// startTelegramLinker long-polls the bot's updates for /start <code>.
func startTelegramLinker(ctx context.Context, n notifySettings, store vibemon.Store, log *slog.Logger) (*notify.TelegramLinker, error) {
	l, err := newTelegramLinker(n, store, log)
	if err != nil {
		return nil, err
	}
	if err := l.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the Telegram linker: %w", err)
	}
	return l, nil
}

// telegramWebhook returns the linker behind POST /api/v1/telegram/webhook
// and logs the URL the operator registers with setWebhook. It does not
// poll: Telegram refuses getUpdates while a webhook is set.
func telegramWebhook(n notifySettings, store vibemon.Store, log *slog.Logger) (*notify.TelegramLinker, *httpapi.TelegramWebhook, error) {
	l, err := newTelegramLinker(n, store, log)
	if err != nil {
		return nil, nil, err
	}
	if n.PublicURL != "" {
		log.Info("telegram: updates come by webhook, not polling; register this URL once with setWebhook and the secret (docs/notifications.md)",
			"webhook_url", n.PublicURL+telegramWebhookPath)
	} else {
		log.Info("telegram: updates come by webhook, not polling; register <your public https address>"+telegramWebhookPath+" once with setWebhook and the secret (docs/notifications.md); set VIBEMON_PUBLIC_URL to have the full URL here",
			"webhook_path", telegramWebhookPath)
	}
	return l, &httpapi.TelegramWebhook{Secret: n.TelegramWebhookSecret, Update: l.HandleWebhook}, nil
}
