package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// WebhookSignatureHeader carries the delivery's timestamp and signature.
const WebhookSignatureHeader = "X-VibeMon-Signature"

// DefaultWebhookTolerance is how old (or how far in the future) a signed
// timestamp VerifyWebhook accepts when given a tolerance of 0.
const DefaultWebhookTolerance = 5 * time.Minute

// WebhookConfig configures the webhook sender.
type WebhookConfig struct {
	// Timeout bounds one delivery. Defaults to 10 s.
	Timeout time.Duration
	// HTTPClient defaults to a client that does not follow redirects (a
	// 3xx is a permanent failure: configure the final URL).
	HTTPClient *http.Client
	// UserAgent defaults to "VibeMon-Webhook/1".
	UserAgent string
	// Now is the clock that stamps signatures. Defaults to time.Now.
	Now func() time.Time
}

// Webhook POSTs alert events as JSON to a URL of the user's choosing. A
// Recipient's Address is the URL and its Secret the signing secret.
//
// Each request carries Idempotency-Key (the caller's key, the same on every
// retry) and X-VibeMon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" keyed with the secret>. Receivers check it with VerifyWebhook
// or the recipe in docs/notifications.md.
type Webhook struct {
	cfg WebhookConfig
}

// NewWebhook returns a webhook sender.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "VibeMon-Webhook/1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg}
}

// WebhookPayload is the JSON body of a webhook delivery.
type WebhookPayload struct {
	// ID is the idempotency key; equal IDs are the same delivery retried.
	ID       string           `json:"id"`
	Event    EventKind        `json:"event"`
	AlertID  int64            `json:"alert_id,omitempty"`
	Severity vibemon.Severity `json:"severity,omitempty"`
	Title    string           `json:"title"`
	Text     string           `json:"text"`
	Link     string           `json:"link,omitempty"`
}

// Send POSTs the payload. 2xx is success; 408, 425, 429 (with Retry-After)
// and 5xx are temporary; other statuses, including redirects, are permanent,
// as are a missing secret and a URL that is not http(s).
func (h *Webhook) Send(ctx context.Context, to Recipient, m Message, idempotencyKey string) error {
	if err := checkSend(ChannelWebhook, to, &m, idempotencyKey); err != nil {
		return err
	}
	if u, err := url.Parse(to.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return permanent(ChannelWebhook, 0, errInvalidf("webhook URL %q must be an absolute http(s) URL.", to.Address))
	}
	if to.Secret == "" {
		return permanent(ChannelWebhook, 0, errInvalidf("webhook secret is required: unsigned deliveries cannot be trusted by the receiver."))
	}
	body, err := jsonMarshal(WebhookPayload{
		ID: idempotencyKey, Event: m.Event, AlertID: m.AlertID, Severity: m.Severity,
		Title: m.Title, Text: m.Text, Link: m.Link,
	})
	if err != nil {
		return permanent(ChannelWebhook, 0, fmt.Errorf("encode webhook: %w", err))
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", h.cfg.UserAgent)
	hdr.Set("Idempotency-Key", idempotencyKey)
	hdr.Set("X-VibeMon-Event", string(m.Event))
	hdr.Set(WebhookSignatureHeader, SignWebhook(to.Secret, h.cfg.Now(), body))

	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	res, err := postBody(ctx, h.cfg.HTTPClient, ChannelWebhook, to.Address, hdr, body)
	if err != nil {
		return err
	}
	if res.status/100 == 2 {
		return nil
	}
	return classifyHTTP(ChannelWebhook, res.status, parseRetryAfter(res.header.Get("Retry-After"), h.cfg.Now()),
		fmt.Errorf("webhook answered %d %s", res.status, snippet(res.body)))
}

// SignWebhook returns the X-VibeMon-Signature value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>".
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// ErrWebhookSignature is wrapped by every VerifyWebhook failure.
var ErrWebhookSignature = errors.New("invalid webhook signature")

// VerifyWebhook checks a delivery the way a receiver should: header is the
// X-VibeMon-Signature value, body the raw request body (before any JSON
// parsing), now the receiver's clock. It accepts when one v1 signature
// matches (several may be present while a secret is rotated) and the
// timestamp is within tolerance of now (DefaultWebhookTolerance when 0),
// which bounds replays. Failures wrap ErrWebhookSignature.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrWebhookSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrWebhookSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is outside the tolerance of %s", ErrWebhookSignature, time.Unix(sec, 0).UTC().Format(time.RFC3339), tolerance)
	}
	want := webhookMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrWebhookSignature)
}

// snippet returns the start of a response body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
