package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
)

// TelegramWebhook receives the bot's updates from Telegram's webhook
// (setWebhook with secret_token; docs/notifications.md, "Telegram").
type TelegramWebhook struct {
	// Secret is the secret_token given to setWebhook. Telegram sends it in
	// the X-Telegram-Bot-Api-Secret-Token header of every update.
	// Required: an empty secret refuses every request.
	Secret string
	// Update handles one update, given the raw body; an EINVALID error
	// means the body is not a Telegram Update (400). It should return
	// quickly: Telegram waits for the answer before it sends the next
	// update.
	Update func(ctx context.Context, body []byte) error
}

// maxTelegramUpdate limits a webhook body (notify's decoder takes no more).
const maxTelegramUpdate = 1 << 20

// telegramSecretHeader carries the webhook's secret_token.
const telegramSecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// newTelegramWebhookCounter counts webhook requests by result: ok,
// missing_secret, wrong_secret, bad_update.
func newTelegramWebhookCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vibemon_telegram_webhook_requests_total",
		Help: "Requests to POST /api/v1/telegram/webhook by result (ok, missing_secret, wrong_secret, bad_update).",
	}, []string{"result"}))
}

// handleTelegramWebhook serves POST /api/v1/telegram/webhook: no user
// token, but the request must carry the webhook's secret (compared in
// constant time; 401 without it, and the secret is never logged). A body
// that is not an Update is 400; a handled update is 200 {"ok":true}, and
// Telegram then forgets it. Without a configured webhook the path is
// unknown, as any other.
func handleTelegramWebhook(s *server) http.Handler {
	tw := s.notifications.TelegramWebhook
	if tw == nil || tw.Secret == "" || tw.Update == nil {
		return handleNoRoute(s)
	}
	want := sha256.Sum256([]byte(tw.Secret))
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		// Digests of equal length: the comparison's time tells nothing of
		// the secret, not even its length.
		values, present := r.Header[http.CanonicalHeaderKey(telegramSecretHeader)]
		got := sha256.Sum256([]byte(r.Header.Get(telegramSecretHeader)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || len(values) != 1 {
			reason := "wrong_secret"
			if !present {
				reason = "missing_secret"
			}
			s.metrics.telegramWebhook.WithLabelValues(reason).Inc()
			s.log.WarnContext(r.Context(), "telegram webhook refused", "reason", reason, "remote", r.RemoteAddr)
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The %s header is missing or wrong.", telegramSecretHeader)
		}
		// An update is small (a message is at most 4096 characters): 1 MiB,
		// or the server's limit when that is lower.
		r.Body = http.MaxBytesReader(w, r.Body, min(s.maxBody, maxTelegramUpdate))
		body, err := s.body(w, r)
		if err != nil {
			return err
		}
		defer body.Close()
		raw, err := io.ReadAll(body)
		if err != nil {
			if e := bodyLimitError(err); e != nil {
				return e
			}
			return jsonError(err)
		}
		if err := tw.Update(r.Context(), raw); err != nil {
			if vibemon.ErrorCode(err) == vibemon.EINVALID {
				s.metrics.telegramWebhook.WithLabelValues("bad_update").Inc()
			}
			return err
		}
		s.metrics.telegramWebhook.WithLabelValues("ok").Inc()
		s.encode(w, r, http.StatusOK, map[string]bool{"ok": true})
		return nil
	})
}
