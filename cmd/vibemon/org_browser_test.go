package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserOrganizationSettings: the owner sets the organization's
// retentions on the Users page. Raising one saves at once; shortening one
// first says what will be deleted and saves on the second Save.
func TestBrowserOrganizationSettings(t *testing.T) {
	chromium := chromiumPath(t)
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	if st := c.do("PATCH", "/api/v1/orgs/current", map[string]any{"retention_days": 90}, nil); st != 200 {
		t.Fatalf("PATCH /orgs/current: status %d", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 0, 0)
	fail := func(step string, err error) {
		t.Helper()
		shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`["page-error", "org-error", "org-warning"].map(id => (document.getElementById(id)||{}).textContent||"").join(" | ")`))
		t.Fatalf("%s: %v (messages shown: %q)", step, err, shown)
	}
	poll := func(expr string) error {
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}
	type orgJSON struct {
		RetentionDays         int `json:"retention_days"`
		WaveformRetentionDays int `json:"waveform_retention_days"`
	}
	saved := func() orgJSON {
		var o orgJSON
		if st := c.do("GET", "/api/v1/orgs/current", nil, &o); st != 200 {
			t.Fatalf("GET /orgs/current: status %d", st)
		}
		return o
	}

	err := signIn(bctx, p.URL+"/login?next=/users", testAdminEmail, testAdminPassword)
	if err == nil {
		err = poll(`!document.getElementById("org-panel").hidden && document.querySelector('#org-form [name="retention_days"]').value === "90"`)
	}
	if err != nil {
		fail("the owner sees the organization's settings", err)
	}
	// Raising the readings' retention deletes nothing: saved at once.
	err = chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`#org-form [name="retention_days"]`), "365"), chromedp.Click(chromedp.CSS("#org-save")))
	if err == nil {
		err = poll(`!document.getElementById("org-saved").hidden`)
	}
	if err != nil {
		fail("raise the readings' retention", err)
	}
	if o := saved(); o.RetentionDays != 365 || o.WaveformRetentionDays != 0 {
		t.Errorf("after raising: %+v, want 365 days of readings and bursts kept forever", o)
	}
	// Keeping bursts 30 days instead of forever deletes older ones: the
	// first Save warns and saves nothing.
	err = chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS(`#org-form [name="waveform_retention_days"]`), "30"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("org-form").dispatchEvent(new Event("input"))`),
		chromedp.Click(chromedp.CSS("#org-save")))
	if err == nil {
		err = poll(`!document.getElementById("org-warning").hidden && document.getElementById("org-warning").textContent.includes("bursts older than 30 days")`)
	}
	if err != nil {
		fail("shortening the bursts' retention warns first", err)
	}
	if o := saved(); o.WaveformRetentionDays != 0 {
		t.Errorf("the first Save of a shorter retention saved %+v, want nothing saved before the confirmation", o)
	}
	err = chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#org-save")))
	if err == nil {
		err = poll(`!document.getElementById("org-saved").hidden && document.getElementById("org-warning").hidden`)
	}
	if err != nil {
		fail("the second Save confirms", err)
	}
	if o := saved(); o.WaveformRetentionDays != 30 || o.RetentionDays != 365 {
		t.Errorf("after confirming: %+v, want 30 days of bursts and 365 of readings", o)
	}
}
