package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/vibemon/vibemon"
)

// Notifications tells the API which notification channels the server has
// and issues Telegram link codes. The zero value means no channel.
type Notifications struct {
	// Channels are the configured channel names ("email", "telegram",
	// "push", "webhook"); a user channel not listed is off on this server.
	Channels []string
	// TelegramLink stores a one-time /start code for the user and returns
	// it with the bot's t.me link (empty when the bot name is unknown);
	// nil when Telegram is off.
	TelegramLink func(ctx context.Context, orgID, userID int64) (code, link string, expires time.Time, err error)
	// TelegramWebhook, when set, serves POST /api/v1/telegram/webhook;
	// nil leaves that path unknown (404), as when the server long-polls.
	TelegramWebhook *TelegramWebhook
}

// meOnly refuses API keys on the /me notification routes: a key is no person.
func meOnly(r *http.Request) error {
	if apiKeyFrom(r.Context()) != nil {
		return vibemon.Errorf(vibemon.EFORBIDDEN, "API keys have no notification preferences; log in as a user.")
	}
	return nil
}

// channelSetting names the server setting that turns each channel on.
var channelSetting = map[string]string{
	vibemon.ChannelEmail:    "VIBEMON_SMTP_URL",
	vibemon.ChannelTelegram: "VIBEMON_TELEGRAM_TOKEN",
	vibemon.ChannelPush:     "VIBEMON_FCM_CREDENTIALS",
}

// channelState is what GET /me/notifications says of one user channel.
type channelState struct {
	Enabled    bool   `json:"enabled"`    // the user wants it
	Configured bool   `json:"configured"` // the server has it
	Address    bool   `json:"address"`    // the user has an address on it
	Active     bool   `json:"active"`     // all three: messages go out on it
	Reason     string `json:"reason,omitempty"`
}

type notificationsView struct {
	Preferences *vibemon.NotificationPrefs `json:"preferences"`
	// Email is where e-mail goes (the preference, else the login e-mail).
	Email          string                  `json:"email"`
	TelegramLinked bool                    `json:"telegram_linked"`
	PushTokens     int                     `json:"push_tokens"`
	Channels       map[string]channelState `json:"channels"`
}

func (s *server) notificationsView(ctx context.Context, orgID, userID int64) (*notificationsView, error) {
	p, err := s.store.GetNotificationPrefs(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	toks, err := s.store.ListPushTokens(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	v := &notificationsView{Preferences: p, Email: p.Email, TelegramLinked: p.TelegramChatID != "", PushTokens: len(toks), Channels: map[string]channelState{}}
	if v.Email == "" {
		v.Email = u.Email
	}
	for _, ch := range vibemon.UserChannels {
		st := channelState{Enabled: p.Enabled(ch), Configured: slices.Contains(s.notifications.Channels, ch)}
		switch ch {
		case vibemon.ChannelEmail:
			st.Address = true
		case vibemon.ChannelTelegram:
			st.Address = v.TelegramLinked
		case vibemon.ChannelPush:
			st.Address = len(toks) > 0
		}
		st.Active = st.Enabled && st.Configured && st.Address
		switch {
		case !st.Configured:
			st.Reason = "This server has no " + ch + " channel (" + channelSetting[ch] + " is not set)."
		case !st.Enabled:
			st.Reason = "Switched off in your preferences."
		case !st.Address:
			if ch == vibemon.ChannelTelegram {
				st.Reason = "No chat is linked yet: POST /api/v1/me/telegram-link and send the code to the bot."
			} else {
				st.Reason = "No device has registered for push yet."
			}
		}
		v.Channels[ch] = st
	}
	return v, nil
}

// handleMyNotificationsGet returns the caller's preferences, addresses and
// which channels actually deliver.
func handleMyNotificationsGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := meOnly(r); err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		v, err := s.notificationsView(r.Context(), c.OrgID, c.UserID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, v)
		return nil
	})
}

// prefsInput is the body of PUT /me/notifications: every field, as GET
// returns them under "preferences" (the chat id is set by linking only).
type prefsInput struct {
	Channels    []string         `json:"channels"`
	MinSeverity vibemon.Severity `json:"min_severity"`
	AssetIDs    []int64          `json:"asset_ids"`
	QuietStart  string           `json:"quiet_start"`
	QuietEnd    string           `json:"quiet_end"`
	TimeZone    string           `json:"time_zone"`
	Digest      bool             `json:"digest"`
	DigestHour  int              `json:"digest_hour"`
	Email       string           `json:"email"`
	// Telegram false unlinks the chat; omitted or true keeps it.
	Telegram *bool `json:"telegram_linked"`
}

// handleMyNotificationsPut replaces the caller's preferences.
func handleMyNotificationsPut(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := meOnly(r); err != nil {
			return err
		}
		in, err := decode[prefsInput](s, w, r)
		if err != nil {
			return err
		}
		if in.Channels == nil {
			return invalidf("channels is required (a list of email, telegram, push; [] for none).")
		}
		c := claimsFrom(r.Context())
		for _, id := range in.AssetIDs {
			if _, err := s.store.GetAsset(r.Context(), c.OrgID, id); vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
				return invalidf("asset_ids: %d is not an asset of your organization.", id)
			} else if err != nil {
				return err
			}
		}
		p := &vibemon.NotificationPrefs{OrgID: c.OrgID, UserID: c.UserID, Channels: in.Channels, MinSeverity: in.MinSeverity,
			AssetIDs: in.AssetIDs, QuietStart: in.QuietStart, QuietEnd: in.QuietEnd, TimeZone: in.TimeZone,
			Digest: in.Digest, DigestHour: in.DigestHour, Email: in.Email}
		if err := s.store.PutNotificationPrefs(r.Context(), p); err != nil {
			return err
		}
		if in.Telegram != nil && !*in.Telegram {
			if err := s.store.UnlinkTelegram(r.Context(), c.OrgID, c.UserID); err != nil {
				return err
			}
		}
		v, err := s.notificationsView(r.Context(), c.OrgID, c.UserID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, v)
		return nil
	})
}

type telegramLinkView struct {
	Code         string    `json:"code"`
	StartCommand string    `json:"start_command"`
	Link         string    `json:"link,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// handleTelegramLink issues a one-time code that links a Telegram chat to
// the caller: send "/start <code>" to the bot, or open the link.
func handleTelegramLink(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := meOnly(r); err != nil {
			return err
		}
		if s.notifications.TelegramLink == nil {
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "This server has no Telegram channel (VIBEMON_TELEGRAM_TOKEN is not set).")
		}
		c := claimsFrom(r.Context())
		code, link, exp, err := s.notifications.TelegramLink(r.Context(), c.OrgID, c.UserID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, telegramLinkView{Code: code, StartCommand: "/start " + code, Link: link, ExpiresAt: exp})
		return nil
	})
}

type pushTokenInput struct {
	Token string `json:"token"`
}

// handlePushTokenAdd registers a device's FCM token for the caller.
func handlePushTokenAdd(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := meOnly(r); err != nil {
			return err
		}
		in, err := decode[pushTokenInput](s, w, r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		t := &vibemon.PushToken{OrgID: c.OrgID, UserID: c.UserID, Token: in.Token}
		if err := s.store.AddPushToken(r.Context(), t); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, t)
		return nil
	})
}

// handlePushTokenDelete removes one of the caller's tokens (?token=...).
func handlePushTokenDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := meOnly(r); err != nil {
			return err
		}
		tok := r.URL.Query().Get("token")
		if tok == "" {
			return invalidf("The query parameter token is required.")
		}
		c := claimsFrom(r.Context())
		if err := s.store.DeletePushToken(r.Context(), c.OrgID, c.UserID, tok); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

type webhookInput struct {
	Name        *string           `json:"name"`
	URL         *string           `json:"url"`
	Secret      *string           `json:"secret"`
	MinSeverity *vibemon.Severity `json:"min_severity"`
	Enabled     *bool             `json:"enabled"`
}

func (in *webhookInput) apply(h *vibemon.Webhook) {
	if in.Name != nil {
		h.Name = *in.Name
	}
	if in.URL != nil {
		h.URL = *in.URL
	}
	if in.Secret != nil {
		h.Secret = *in.Secret
	}
	if in.MinSeverity != nil {
		h.MinSeverity = *in.MinSeverity
	}
	if in.Enabled != nil {
		h.Enabled = *in.Enabled
	}
}

// hideSecret returns h without its secret, which is shown once, at create.
func hideSecret(h *vibemon.Webhook) *vibemon.Webhook {
	c := *h
	c.Secret = ""
	return &c
}

// handleWebhookCreate adds an org webhook; without a secret the server
// makes one. The answer is the only one that shows the secret.
func handleWebhookCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[webhookInput](s, w, r)
		if err != nil {
			return err
		}
		h := &vibemon.Webhook{OrgID: claimsFrom(r.Context()).OrgID, Enabled: true}
		in.apply(h)
		if h.Secret == "" {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			h.Secret = hex.EncodeToString(b)
		}
		if err := s.store.CreateWebhook(r.Context(), h); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, h)
		return nil
	})
}

func handleWebhookList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		hs, err := s.store.ListWebhooks(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		for i, h := range hs {
			hs[i] = hideSecret(h)
		}
		s.encode(w, r, http.StatusOK, list(hs))
		return nil
	})
}

func handleWebhookGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		h, err := s.store.GetWebhook(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, hideSecret(h))
		return nil
	})
}

// handleWebhookPatch changes the given fields (a new secret rotates it).
func handleWebhookPatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		h, err := s.store.GetWebhook(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		in, err := decode[webhookInput](s, w, r)
		if err != nil {
			return err
		}
		in.apply(h)
		if err := s.store.UpdateWebhook(r.Context(), h); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, hideSecret(h))
		return nil
	})
}

func handleWebhookDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteWebhook(r.Context(), claimsFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
