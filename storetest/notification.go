package storetest

import (
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// testNotificationPrefs checks preferences: defaults, round trip,
// validation, that saving keeps the linked chat, and tenancy.
func testNotificationPrefs(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	p, err := s.GetNotificationPrefs(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if !p.Enabled(vibemon.ChannelEmail) || p.MinSeverity != vibemon.SeverityWarning || p.QuietStart != "" || p.Digest {
		t.Errorf("defaults = %+v, want email on, warning and above, no quiet hours, no digest", p)
	}
	want := &vibemon.NotificationPrefs{
		OrgID: a.org.ID, UserID: a.user.ID, Channels: []string{"telegram", "email", "email"},
		MinSeverity: vibemon.SeverityCritical, AssetIDs: []int64{a.asset.ID},
		QuietStart: "22:00", QuietEnd: "07:00", TimeZone: "Europe/Berlin", Digest: true, DigestHour: 7,
		Email: "night-shift@example.com", TelegramChatID: "ignored",
	}
	must(t, s.PutNotificationPrefs(ctx(t), want))
	got, err := s.GetNotificationPrefs(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if len(got.Channels) != 2 || got.Channels[0] != "email" || got.Channels[1] != "telegram" ||
		got.MinSeverity != vibemon.SeverityCritical || len(got.AssetIDs) != 1 || got.AssetIDs[0] != a.asset.ID ||
		got.QuietStart != "22:00" || got.QuietEnd != "07:00" || got.TimeZone != "Europe/Berlin" ||
		!got.Digest || got.DigestHour != 7 || got.Email != "night-shift@example.com" || got.TelegramChatID != "" {
		t.Errorf("round trip = %+v, want the saved preferences (channels sorted and unique, no chat)", got)
	}

	for name, bad := range map[string]func(p *vibemon.NotificationPrefs){
		"channel":   func(p *vibemon.NotificationPrefs) { p.Channels = []string{"sms"} },
		"severity":  func(p *vibemon.NotificationPrefs) { p.MinSeverity = "loud" },
		"quiet one": func(p *vibemon.NotificationPrefs) { p.QuietStart, p.QuietEnd = "22:00", "" },
		"quiet fmt": func(p *vibemon.NotificationPrefs) { p.QuietStart, p.QuietEnd = "25:00", "07:00" },
		"zone":      func(p *vibemon.NotificationPrefs) { p.TimeZone = "Mars/Olympus" },
		"hour":      func(p *vibemon.NotificationPrefs) { p.DigestHour = 24 },
		"email":     func(p *vibemon.NotificationPrefs) { p.Email = "nobody" },
	} {
		p := vibemon.DefaultNotificationPrefs(a.org.ID, a.user.ID)
		bad(p)
		if err := s.PutNotificationPrefs(ctx(t), p); vibemon.ErrorCode(err) != vibemon.EINVALID {
			t.Errorf("%s: PutNotificationPrefs = %v, want EINVALID", name, err)
		}
	}

	// Linking a chat survives saving preferences.
	exp := time.Now().Add(time.Hour)
	must(t, s.CreateTelegramLink(ctx(t), a.org.ID, a.user.ID, "code-a", exp))
	must(t, s.LinkTelegram(ctx(t), "code-a", "4242", time.Now()))
	must(t, s.LinkTelegram(ctx(t), "code-a", "4242", time.Now())) // Telegram redelivers
	wantCode(t, s.LinkTelegram(ctx(t), "code-a", "9999", time.Now()), vibemon.ENOTFOUND)
	must(t, s.PutNotificationPrefs(ctx(t), got))
	got, err = s.GetNotificationPrefs(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if got.TelegramChatID != "4242" {
		t.Errorf("chat after link and save = %q, want 4242", got.TelegramChatID)
	}
	must(t, s.UnlinkTelegram(ctx(t), a.org.ID, a.user.ID))
	if got, _ := s.GetNotificationPrefs(ctx(t), a.org.ID, a.user.ID); got.TelegramChatID != "" {
		t.Errorf("chat after unlink = %q, want none", got.TelegramChatID)
	}

	// Tenancy: b sees only its own user and cannot touch a's.
	wantCode(t, s.PutNotificationPrefs(ctx(t), &vibemon.NotificationPrefs{OrgID: b.org.ID, UserID: a.user.ID}), vibemon.ENOTFOUND)
	_, err = s.GetNotificationPrefs(ctx(t), b.org.ID, a.user.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	list, err := s.ListNotificationPrefs(ctx(t), b.org.ID)
	must(t, err)
	if len(list) != 1 || list[0].UserID != b.user.ID || list[0].MinSeverity != vibemon.SeverityWarning {
		t.Errorf("ListNotificationPrefs(b) = %v, want b's owner with defaults", list)
	}
	wantCode(t, s.CreateTelegramLink(ctx(t), b.org.ID, a.user.ID, "x", exp), vibemon.ENOTFOUND)
}

// testTelegramLinkExpiry checks that an expired or unknown code links nothing.
func testTelegramLinkExpiry(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	must(t, s.CreateTelegramLink(ctx(t), a.org.ID, a.user.ID, "old", t0.Add(vibemon.TelegramLinkTTL)))
	must(t, s.CreateTelegramLink(ctx(t), a.org.ID, a.user.ID, "new", t0.Add(vibemon.TelegramLinkTTL)))
	wantCode(t, s.LinkTelegram(ctx(t), "old", "1", t0), vibemon.ENOTFOUND)                // replaced
	wantCode(t, s.LinkTelegram(ctx(t), "nope", "1", t0), vibemon.ENOTFOUND)               // unknown
	wantCode(t, s.LinkTelegram(ctx(t), "new", "1", t0.Add(time.Hour)), vibemon.ENOTFOUND) // expired
	p, err := s.GetNotificationPrefs(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if p.TelegramChatID != "" {
		t.Errorf("chat = %q, want none linked", p.TelegramChatID)
	}
}

// testPushTokens checks several tokens per user, idempotent adds, delete
// and tenancy.
func testPushTokens(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	for _, tok := range []string{"tok-phone", "tok-laptop", "tok-phone"} {
		must(t, s.AddPushToken(ctx(t), &vibemon.PushToken{OrgID: a.org.ID, UserID: a.user.ID, Token: tok}))
	}
	list, err := s.ListPushTokens(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if len(list) != 2 || list[0].Token != "tok-phone" || list[1].Token != "tok-laptop" {
		t.Fatalf("tokens = %v, want [tok-phone tok-laptop]", list)
	}
	wantCode(t, s.AddPushToken(ctx(t), &vibemon.PushToken{OrgID: a.org.ID, UserID: a.user.ID, Token: " "}), vibemon.EINVALID)
	wantCode(t, s.AddPushToken(ctx(t), &vibemon.PushToken{OrgID: b.org.ID, UserID: a.user.ID, Token: "t"}), vibemon.ENOTFOUND)
	wantCode(t, s.DeletePushToken(ctx(t), b.org.ID, b.user.ID, "tok-phone"), vibemon.ENOTFOUND)
	must(t, s.DeletePushToken(ctx(t), a.org.ID, a.user.ID, "tok-phone"))
	list, err = s.ListPushTokens(ctx(t), a.org.ID, a.user.ID)
	must(t, err)
	if len(list) != 1 || list[0].Token != "tok-laptop" {
		t.Errorf("tokens after delete = %v, want [tok-laptop]", list)
	}
}

// testWebhooks checks webhook CRUD, validation and tenancy.
func testWebhooks(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	w := &vibemon.Webhook{OrgID: a.org.ID, Name: " ops ", URL: "https://ops.example/hook", Secret: "0123456789abcdef", Enabled: true}
	must(t, s.CreateWebhook(ctx(t), w))
	if w.ID == 0 || w.Name != "ops" || w.MinSeverity != vibemon.SeverityInfo {
		t.Errorf("created = %+v, want an id, trimmed name, min_severity info", w)
	}
	for _, bad := range []*vibemon.Webhook{
		{Name: "x", URL: "ftp://x", Secret: "0123456789abcdef"},
		{Name: "x", URL: "https://x", Secret: "short"},
		{Name: "", URL: "https://x", Secret: "0123456789abcdef"},
	} {
		bad.OrgID = a.org.ID
		wantCode(t, s.CreateWebhook(ctx(t), bad), vibemon.EINVALID)
	}
	w.MinSeverity, w.Enabled = vibemon.SeverityCritical, false
	must(t, s.UpdateWebhook(ctx(t), w))
	got, err := s.GetWebhook(ctx(t), a.org.ID, w.ID)
	must(t, err)
	if got.MinSeverity != vibemon.SeverityCritical || got.Enabled || got.Secret != w.Secret {
		t.Errorf("after update = %+v", got)
	}
	_, err = s.GetWebhook(ctx(t), b.org.ID, w.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	other := *w
	other.OrgID = b.org.ID
	wantCode(t, s.UpdateWebhook(ctx(t), &other), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteWebhook(ctx(t), b.org.ID, w.ID), vibemon.ENOTFOUND)
	if l, _ := s.ListWebhooks(ctx(t), b.org.ID); len(l) != 0 {
		t.Errorf("ListWebhooks(b) = %v, want none", l)
	}
	must(t, s.DeleteWebhook(ctx(t), a.org.ID, w.ID))
	if l, _ := s.ListWebhooks(ctx(t), a.org.ID); len(l) != 0 {
		t.Errorf("ListWebhooks(a) after delete = %v, want none", l)
	}
}

// testNotifyCursor checks that the cursor only moves from where it is.
func testNotifyCursor(t *testing.T, s vibemon.Store) {
	pos, err := s.NotifyCursor(ctx(t), "alerts")
	must(t, err)
	if pos != 0 {
		t.Fatalf("new cursor = %d, want 0", pos)
	}
	must(t, s.AdvanceNotifyCursor(ctx(t), "alerts", 0, 7))
	wantCode(t, s.AdvanceNotifyCursor(ctx(t), "alerts", 0, 9), vibemon.ECONFLICT)
	must(t, s.AdvanceNotifyCursor(ctx(t), "alerts", 7, 9))
	if pos, _ := s.NotifyCursor(ctx(t), "alerts"); pos != 9 {
		t.Errorf("cursor = %d, want 9", pos)
	}
	if pos, _ := s.NotifyCursor(ctx(t), "other"); pos != 0 {
		t.Errorf("another cursor = %d, want 0", pos)
	}
}

// testDeliveryLedger checks claims: a retry counts an attempt, a final
// delivery is never claimed again, and a recipient over its limit gets
// its deliveries batched until they are summarized.
func testDeliveryLedger(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	since := time.Now().Add(-time.Hour)
	d := func(ev int64) *vibemon.Delivery {
		return &vibemon.Delivery{Key: "event:" + string(rune('0'+ev)) + "/user:1/email", OrgID: a.org.ID, EventID: ev, AlertID: 1, UserID: a.user.ID, Channel: "email"}
	}
	got, err := s.ClaimDelivery(ctx(t), d(1), 2, since)
	must(t, err)
	if got.Status != vibemon.DeliverySending || got.Attempts != 1 {
		t.Fatalf("first claim = %+v, want sending, 1 attempt", got)
	}
	got, err = s.ClaimDelivery(ctx(t), d(1), 2, since) // a retry after a crash
	must(t, err)
	if got.Status != vibemon.DeliverySending || got.Attempts != 2 {
		t.Fatalf("second claim = %+v, want sending, 2 attempts", got)
	}
	must(t, s.FinishDelivery(ctx(t), d(1).Key, vibemon.DeliveryDelivered, ""))
	got, err = s.ClaimDelivery(ctx(t), d(1), 2, since)
	must(t, err)
	if got.Status != vibemon.DeliveryDelivered || got.Attempts != 2 {
		t.Fatalf("claim after delivery = %+v, want delivered as stored", got)
	}
	got, _ = s.ClaimDelivery(ctx(t), d(2), 2, since)
	if got.Status != vibemon.DeliverySending {
		t.Fatalf("second event = %v, want sending (under the limit of 2)", got.Status)
	}
	for ev := int64(3); ev <= 5; ev++ {
		got, _ = s.ClaimDelivery(ctx(t), d(ev), 2, since)
		if got.Status != vibemon.DeliveryBatched {
			t.Fatalf("event %d = %v, want batched (over the limit)", ev, got.Status)
		}
	}
	got, _ = s.ClaimDelivery(ctx(t), d(3), 2, since)
	if got.Status != vibemon.DeliveryBatched || got.Attempts != 0 {
		t.Errorf("batched claimed again = %+v, want still batched, 0 attempts", got)
	}
	got, _ = s.ClaimDelivery(ctx(t), &vibemon.Delivery{Key: "event:6/user:1/telegram", OrgID: a.org.ID, EventID: 6, UserID: a.user.ID, Channel: "telegram"}, 2, since)
	if got.Status != vibemon.DeliverySending {
		t.Errorf("other channel = %v, want sending (limits are per channel)", got.Status)
	}
	batched, err := s.ListBatchedDeliveries(ctx(t), a.org.ID, a.user.ID, "email")
	must(t, err)
	if len(batched) != 3 || batched[0].EventID != 3 {
		t.Fatalf("batched = %v, want events 3, 4, 5", batched)
	}
	must(t, s.MarkSummarized(ctx(t), []string{batched[0].Key, batched[1].Key, batched[2].Key}))
	if l, _ := s.ListBatchedDeliveries(ctx(t), a.org.ID, a.user.ID, "email"); len(l) != 0 {
		t.Errorf("batched after summary = %v, want none", l)
	}
	if got, _ := s.GetDelivery(ctx(t), batched[0].Key); got.Status != vibemon.DeliverySummarized {
		t.Errorf("status after summary = %v, want summarized", got.Status)
	}
	_, err = s.GetDelivery(ctx(t), "nope")
	wantCode(t, err, vibemon.ENOTFOUND)
}
