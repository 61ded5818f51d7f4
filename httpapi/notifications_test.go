package httpapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

func TestMyNotifications(t *testing.T) {
	var linked []int64
	e := newTestEnv(t, func(c *Config) {
		c.Notifications = Notifications{
			Channels: []string{"email", "webhook"}, // no Telegram bot, no FCM key
			TelegramLink: func(_ context.Context, orgID, userID int64) (string, string, time.Time, error) {
				linked = append(linked, userID)
				return "c0de", "https://t.me/VibeMonBot?start=c0de", testNow.Add(15 * time.Minute), nil
			},
		}
	})
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleViewer) // every role has its own preferences
	var v notificationsView
	e.do(t, request{method: "GET", path: "/api/v1/me/notifications", token: tok}).wantStatus(t, 200).decode(t, &v)
	if v.Preferences.MinSeverity != vibemon.SeverityWarning || v.Email != a.users[vibemon.RoleViewer].Email {
		t.Errorf("defaults = %+v, want warning and up to the login e-mail", v)
	}
	if st := v.Channels["email"]; !st.Active {
		t.Errorf("email = %+v, want active", st)
	}
	if st := v.Channels["push"]; st.Active || st.Configured || !strings.Contains(st.Reason, "VIBEMON_FCM_CREDENTIALS") {
		t.Errorf("push = %+v, want not configured, naming the setting", st)
	}

	body := map[string]any{"channels": []string{"email", "telegram"}, "min_severity": "critical", "asset_ids": []int64{a.asset.ID},
		"quiet_start": "22:00", "quiet_end": "06:30", "time_zone": "Europe/Berlin", "digest": true, "digest_hour": 7, "email": "me@acme.test"}
	e.do(t, request{method: "PUT", path: "/api/v1/me/notifications", token: tok, body: body}).wantStatus(t, 200).decode(t, &v)
	p := v.Preferences
	if p.MinSeverity != vibemon.SeverityCritical || p.QuietEnd != "06:30" || p.TimeZone != "Europe/Berlin" || !p.Digest || v.Email != "me@acme.test" ||
		len(p.AssetIDs) != 1 || v.Channels["telegram"].Active || !strings.Contains(v.Channels["telegram"].Reason, "VIBEMON_TELEGRAM_TOKEN") {
		t.Errorf("after PUT = %+v %+v", p, v.Channels)
	}
	for name, bad := range map[string]any{
		"no channels":   map[string]any{"min_severity": "info"},
		"bad zone":      map[string]any{"channels": []string{}, "time_zone": "Moon/Base"},
		"half quiet":    map[string]any{"channels": []string{}, "quiet_start": "22:00"},
		"unknown asset": map[string]any{"channels": []string{}, "asset_ids": []int64{999999}},
		"sms":           map[string]any{"channels": []string{"sms"}},
	} {
		t.Run(name, func(t *testing.T) {
			e.do(t, request{method: "PUT", path: "/api/v1/me/notifications", token: tok, body: bad}).wantError(t, vibemon.EINVALID)
		})
	}

	var link telegramLinkView
	e.do(t, request{method: "POST", path: "/api/v1/me/telegram-link", token: tok}).wantStatus(t, 201).decode(t, &link)
	if link.StartCommand != "/start c0de" || link.Link == "" || len(linked) != 1 || linked[0] != a.users[vibemon.RoleViewer].ID {
		t.Errorf("telegram link = %+v for users %v", link, linked)
	}

	e.do(t, request{method: "POST", path: "/api/v1/me/push-tokens", token: tok, body: map[string]string{"token": "fcm-1"}}).wantStatus(t, 201)
	e.do(t, request{method: "POST", path: "/api/v1/me/push-tokens", token: tok, body: map[string]string{"token": "fcm-2"}}).wantStatus(t, 201)
	e.do(t, request{method: "GET", path: "/api/v1/me/notifications", token: tok}).wantStatus(t, 200).decode(t, &v)
	if v.PushTokens != 2 {
		t.Errorf("push tokens = %d, want 2", v.PushTokens)
	}
	e.do(t, request{method: "DELETE", path: "/api/v1/me/push-tokens?token=fcm-1", token: tok}).wantStatus(t, 204)
	e.do(t, request{method: "DELETE", path: "/api/v1/me/push-tokens?token=fcm-1", token: tok}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "DELETE", path: "/api/v1/me/push-tokens", token: tok}).wantError(t, vibemon.EINVALID)
}

func TestTelegramLinkWithoutBot(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	e.do(t, request{method: "POST", path: "/api/v1/me/telegram-link", token: a.token(vibemon.RoleOwner)}).wantError(t, vibemon.EUNAVAILABLE)
}

func TestWebhooksAdmin(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	e.do(t, request{method: "POST", path: "/api/v1/webhooks", token: a.token(vibemon.RoleEngineer), body: map[string]any{"name": "x", "url": "https://x.test"}}).
		wantError(t, vibemon.EFORBIDDEN)
	var h vibemon.Webhook
	e.do(t, request{method: "POST", path: "/api/v1/webhooks", token: a.token(vibemon.RoleAdmin), body: map[string]any{"name": "ops", "url": "https://ops.acme.test/hook", "min_severity": "warning"}}).
		wantStatus(t, 201).decode(t, &h)
	if len(h.Secret) < 32 || h.MinSeverity != vibemon.SeverityWarning || !h.Enabled {
		t.Fatalf("created = %+v, want a generated secret, warning, enabled", h)
	}
	path := fmt.Sprintf("/api/v1/webhooks/%d", h.ID)
	res := e.do(t, request{method: "GET", path: path, token: a.token(vibemon.RoleAdmin)}).wantStatus(t, 200)
	if strings.Contains(string(res.body), h.Secret) {
		t.Errorf("GET shows the secret: %s", res.body)
	}
	var got vibemon.Webhook
	e.do(t, request{method: "PATCH", path: path, token: a.token(vibemon.RoleAdmin), body: map[string]any{"enabled": false}}).wantStatus(t, 200).decode(t, &got)
	if got.Enabled || got.URL != h.URL {
		t.Errorf("after PATCH = %+v, want disabled, same URL", got)
	}
	stored, _ := e.store.GetWebhook(context.Background(), a.org.ID, h.ID)
	if stored.Secret != h.Secret {
		t.Errorf("PATCH without a secret changed it")
	}
	e.do(t, request{method: "PATCH", path: path, token: a.token(vibemon.RoleAdmin), body: map[string]any{"url": "ftp://x"}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "DELETE", path: path, token: a.token(vibemon.RoleAdmin)}).wantStatus(t, 204)
	e.do(t, request{method: "GET", path: path, token: a.token(vibemon.RoleAdmin)}).wantError(t, vibemon.ENOTFOUND)
}
