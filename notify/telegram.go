package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTelegramURL is the Bot API server.
const DefaultTelegramURL = "https://api.telegram.org"

// telegramMaxText is the Bot API's limit on a message's text (after entity
// parsing); the body is cut well below it so the markup always fits.
const (
	telegramMaxText = 4096
	telegramMaxBody = 3500
)

// TelegramConfig configures the Telegram sender.
type TelegramConfig struct {
	// Token is the bot token from @BotFather. Required.
	Token string
	// BaseURL is the Bot API server. Defaults to DefaultTelegramURL.
	BaseURL string
	// Timeout bounds one delivery. Defaults to 10 s.
	Timeout time.Duration
	// HTTPClient defaults to a client that does not follow redirects.
	HTTPClient *http.Client
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Telegram sends messages through the Telegram Bot API (sendMessage). A
// Recipient's Address is the numeric chat id that TelegramLinker reported, or
// "@channelname" for a public channel the bot administers.
//
// The Bot API has no idempotency key: a retry after an ambiguous failure (a
// timeout after Telegram accepted the message) can deliver twice.
type Telegram struct {
	cfg TelegramConfig
	api telegramAPI
}

// NewTelegram returns a Telegram sender, or an EINVALID error naming the
// missing field.
func NewTelegram(cfg TelegramConfig) (*Telegram, error) {
	api, err := newTelegramAPI(cfg.Token, cfg.BaseURL, cfg.HTTPClient, "TelegramConfig")
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Telegram{cfg: cfg, api: api}, nil
}

// Send delivers m with sendMessage in HTML parse mode, link previews off and
// the panel link both in the text and, when Telegram accepts the URL, as a
// button. 429 is temporary with the server's retry_after; 400 (chat not
// found, bad chat id), 401, 403 (bot blocked or kicked) and 404 (bad token)
// are permanent; 5xx and network failures are temporary.
func (t *Telegram) Send(ctx context.Context, to Recipient, m Message, idempotencyKey string) error {
	if err := checkSend(ChannelTelegram, to, &m, idempotencyKey); err != nil {
		return err
	}
	chatID, err := telegramChatID(to.Address)
	if err != nil {
		return permanent(ChannelTelegram, 0, err)
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	return t.api.sendMessage(ctx, telegramSendMessage{
		ChatID:             chatID,
		Text:               TelegramHTML(m),
		ParseMode:          "HTML",
		LinkPreviewOptions: &telegramLinkPreview{IsDisabled: true},
		ReplyMarkup:        telegramButton(m.Link),
	}, t.cfg.Now)
}

// TelegramHTML renders m as the text of a Bot API message in HTML parse mode:
// the title in bold, the plain text escaped (cut to fit Telegram's limit) and
// the link. m.HTML is not used: Telegram accepts only a few tags.
func TelegramHTML(m Message) string {
	var b strings.Builder
	b.WriteString("<b>")
	b.WriteString(html.EscapeString(truncateRunes(strings.TrimSpace(m.Title), 200)))
	b.WriteString("</b>\n\n")
	b.WriteString(html.EscapeString(truncateRunes(strings.TrimSpace(m.Text), telegramMaxBody)))
	if m.Link != "" {
		b.WriteString("\n\n<a href=\"")
		b.WriteString(html.EscapeString(m.Link))
		b.WriteString("\">Open in VibeMon</a>")
	}
	return b.String()
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// telegramChatID accepts a numeric chat id or an @channel username.
func telegramChatID(addr string) (any, error) {
	addr = strings.TrimSpace(addr)
	if id, err := strconv.ParseInt(addr, 10, 64); err == nil && id != 0 {
		return id, nil
	}
	if len(addr) > 1 && addr[0] == '@' && !strings.ContainsAny(addr, " /?#") {
		return addr, nil
	}
	return nil, fmt.Errorf("telegram chat id %q is neither a number nor an @channel", addr)
}

// telegramButton returns an inline keyboard with one URL button, or nil when
// Telegram would reject the URL (it accepts only http(s) to public host
// names; localhost links would make the whole message fail).
func telegramButton(link string) *telegramMarkup {
	u, err := url.Parse(link)
	if link == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil
	}
	h := u.Hostname()
	if h == "" || h == "localhost" || !strings.Contains(h, ".") || strings.HasSuffix(h, ".localhost") {
		return nil
	}
	return &telegramMarkup{InlineKeyboard: [][]telegramButtonJSON{{{Text: "Open in VibeMon", URL: link}}}}
}

// Bot API shapes (https://core.telegram.org/bots/api).
type telegramSendMessage struct {
	ChatID             any                  `json:"chat_id"`
	Text               string               `json:"text"`
	ParseMode          string               `json:"parse_mode,omitempty"`
	LinkPreviewOptions *telegramLinkPreview `json:"link_preview_options,omitempty"`
	ReplyMarkup        *telegramMarkup      `json:"reply_markup,omitempty"`
}

type telegramLinkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

type telegramMarkup struct {
	InlineKeyboard [][]telegramButtonJSON `json:"inline_keyboard"`
}

type telegramButtonJSON struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

type telegramResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// telegramAPI calls Bot API methods; the Telegram sender and the linker share it.
type telegramAPI struct {
	base   string // {BaseURL}/bot{token}/
	client *http.Client
}

func newTelegramAPI(token, base string, client *http.Client, cfgName string) (telegramAPI, error) {
	if strings.TrimSpace(token) == "" || strings.ContainsAny(token, "/?# ") {
		return telegramAPI{}, errInvalidf("%s.Token: a bot token is required.", cfgName)
	}
	if base == "" {
		base = DefaultTelegramURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return telegramAPI{}, errInvalidf("%s.BaseURL %q: must be an http(s) URL.", cfgName, base)
	}
	if client == nil {
		client = newHTTPClient()
	}
	return telegramAPI{base: strings.TrimRight(base, "/") + "/bot" + token + "/", client: client}, nil
}

// call posts a method and decodes the Bot API envelope. It returns the
// result on ok, otherwise a classified *DeliveryError.
func (a telegramAPI) call(ctx context.Context, method string, payload any, now func() time.Time) (json.RawMessage, error) {
	res, _, err := postJSON(ctx, a.client, ChannelTelegram, a.base+method, nil, payload)
	if err != nil {
		return nil, err
	}
	var tr telegramResponse
	if jerr := json.Unmarshal(res.body, &tr); jerr != nil {
		// Not the Bot API's envelope (a proxy's error page): the status decides.
		if res.status/100 == 2 {
			return nil, temporary(ChannelTelegram, res.status, fmt.Errorf("%s: undecodable response: %w", method, jerr))
		}
		return nil, classifyHTTP(ChannelTelegram, res.status, parseRetryAfter(res.header.Get("Retry-After"), now()), fmt.Errorf("%s: HTTP %d", method, res.status))
	}
	if tr.OK && res.status/100 == 2 {
		return tr.Result, nil
	}
	code := tr.ErrorCode
	if code == 0 {
		code = res.status
	}
	desc := tr.Description
	if tr.Parameters.MigrateToChatID != 0 {
		desc += fmt.Sprintf(" (the group is now chat %d)", tr.Parameters.MigrateToChatID)
	}
	cause := fmt.Errorf("%s: %s", method, desc)
	if code == http.StatusTooManyRequests {
		wait := time.Duration(tr.Parameters.RetryAfter) * time.Second
		return nil, &DeliveryError{Channel: ChannelTelegram, Status: code, RetryAfter: wait, Err: cause}
	}
	return nil, classifyHTTP(ChannelTelegram, code, 0, cause)
}

func (a telegramAPI) sendMessage(ctx context.Context, msg telegramSendMessage, now func() time.Time) error {
	if utf8.RuneCountInString(msg.Text) > telegramMaxText {
		return permanent(ChannelTelegram, 0, fmt.Errorf("sendMessage: text longer than %d characters", telegramMaxText))
	}
	_, err := a.call(ctx, "sendMessage", msg, now)
	return err
}
