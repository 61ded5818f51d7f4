package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The Notifications page shows which channels deliver, and saves what the
// user sets: severity, quiet hours, time zone.
func TestBrowserNotificationSettings(t *testing.T) {
	chromium := chromiumPath(t)
	in := startInbox(t)
	p := startProgram(t, map[string]string{
		"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_SMTP_URL": "smtp://" + in.addr + "?starttls=0",
		"VIBEMON_SMTP_FROM": "alerts@vibemon.example",
	}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 0, 0)
	fail := func(step string, err error) {
		t.Helper()
		pageErr, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.getElementById("page-error")||{}).textContent||""`))
		t.Fatalf("%s: %v (error banner %q)", step, err, pageErr)
	}
	poll := func(expr string) error {
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}

	err := signIn(bctx, p.URL+"/login?next=/notifications", testAdminEmail, testAdminPassword)
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`[data-channel="email"]`)))
	}
	if err != nil {
		fail("sign in and open the page", err)
	}
	// E-mail is active; Telegram is not configured on this server, so its
	// panel is hidden and the channel says which setting is missing.
	if err := poll(`!!document.querySelector('[data-channel="email"] .badge')`); err != nil {
		fail("e-mail shown as active", err)
	}
	if err := poll(`document.getElementById("telegram-panel").hidden && document.querySelector('[data-channel="telegram"]').textContent.includes("VIBEMON_TELEGRAM_TOKEN")`); err != nil {
		fail("Telegram shown as not configured", err)
	}
	// Each channel's box sits beside its name, at a checkbox's size (the
	// page once drew them as inputs a column wide, above their names), and
	// the digest's box beside its label.
	if err := poll(`[...document.querySelectorAll('#channels input[type="checkbox"], #prefs [name="digest"]')].every(b => {
		const r = b.getBoundingClientRect(), l = b.closest("label").getBoundingClientRect();
		return r.width > 0 && r.width <= 32 && r.height <= 32 && r.top >= l.top && r.bottom <= l.bottom && l.height < 3 * r.height;
	})`); err != nil {
		fail("checkboxes beside their labels", err)
	}
	err = chromedp.Do(bctx,
		chromedp.SetValue(chromedp.CSS(`#prefs [name="min_severity"]`), "critical"),
		chromedp.SetValue(chromedp.CSS(`#prefs [name="quiet_start"]`), "22:00"),
		chromedp.SetValue(chromedp.CSS(`#prefs [name="quiet_end"]`), "07:00"),
		chromedp.SetValue(chromedp.CSS(`#prefs [name="time_zone"]`), "Europe/Berlin"),
		chromedp.Click(chromedp.CSS(`#prefs button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#prefs-saved")))
	if err != nil {
		fail("save preferences", err)
	}
	var got struct {
		Preferences struct {
			MinSeverity string `json:"min_severity"`
			QuietStart  string `json:"quiet_start"`
			QuietEnd    string `json:"quiet_end"`
			TimeZone    string `json:"time_zone"`
		}
	}
	if st := c.do("GET", "/api/v1/me/notifications", nil, &got); st != 200 {
		t.Fatalf("GET /me/notifications: status %d", st)
	}
	if p := got.Preferences; p.MinSeverity != "critical" || p.QuietStart != "22:00" || p.QuietEnd != "07:00" || p.TimeZone != "Europe/Berlin" {
		t.Errorf("saved preferences = %+v, want critical, 22:00-07:00 Europe/Berlin", p)
	}
}
