package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRuleForm creates rules of two kinds on the panel's Alert rules
// page as an engineer would: an ISO zone D rule for one machine, and a
// threshold rule with two OR-ed conditions; the API then holds both with
// their fields, and the list says what each fires on.
func TestBrowserRuleForm(t *testing.T) {
	chromium := chromiumPath(t)
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	var asset struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Kiln fan K-2", "type": "fan", "rpm": 1480, "iso_group": 2, "foundation": "rigid"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 1280, 1400)
	fail := func(step string, err error) {
		t.Helper()
		msg, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[document.getElementById("page-error"), document.getElementById("rule-create-error")].map(e => e && e.textContent).join(" | ")`))
		t.Fatalf("%s: %v (errors shown: %q)", step, err, msg)
	}
	poll := func(step, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			fail(step, err)
		}
	}
	err := signIn(bctx, p.URL+"/login", testAdminEmail, testAdminPassword)
	// The page is one click away from anywhere: the main navigation.
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`nav.nav a[href="/rules"]`)))
	}
	if err == nil {
		err = clickToPage(bctx, `nav.nav a[href="/rules"]`)
	}
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#rule-create")))
	}
	if err != nil {
		fail("open the rules page", err)
	}
	// The threshold conditions take a row of their own below name, kind,
	// severity and scope, each condition on one line (the fieldset was once
	// a narrow column that pushed the name row down to its bottom).
	poll("the conditions laid out in a row of their own", `(() => {
		const form = document.getElementById("rule-create").getBoundingClientRect(),
			fs = document.querySelector('fieldset[data-kinds="threshold"]').getBoundingClientRect(),
			name = document.querySelector('#rule-create input[name="name"]').getBoundingClientRect(),
			cond = [...document.querySelectorAll("#conditions .condition > *")].map(e => e.getBoundingClientRect());
		return fs.width > 0.9 * form.width && name.bottom <= fs.top && cond.length === 5 && cond.every(r => Math.abs(r.top - cond[0].top) < 2);
	})()`)
	// Choosing a kind shows its fields only.
	err = chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS(`#rule-create input[name="name"]`), "K-2 in zone D"),
		chromedp.SetValue(chromedp.CSS(`#rule-create select[name="kind"]`), "iso_zone"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#rule-create select[name="kind"]').dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.CSS(`#rule-create select[name="scope"]`), "asset"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#rule-create select[name="scope"]').dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.CSS(`#rule-create select[name="zone"]`), "D"),
		chromedp.SetValue(chromedp.CSS(`#rule-create select[name="severity"]`), "critical"))
	if err != nil {
		fail("fill the iso_zone rule", err)
	}
	poll("only the iso_zone fields shown", `document.querySelector('[name="zone"]').closest("label").hidden === false && document.querySelector('[name="within_days"]').closest("label").hidden === true && document.querySelector('fieldset[data-kinds="threshold"]').hidden === true`)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#rule-create button[type="submit"]`))); err != nil {
		fail("create the iso_zone rule", err)
	}
	poll("iso_zone rule listed", `[...document.querySelectorAll("#rules tr[data-rule-id]")].some(r => r.textContent.includes("velocity in ISO zone D") && r.textContent.includes("Kiln fan K-2"))`)

	// A threshold rule with two conditions, OR.
	err = chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS(`#rule-create input[name="name"]`), "K-2 hot or shaking"),
		chromedp.Click(chromedp.CSS("#add-condition")),
		chromedp.SetValue(chromedp.CSS(`#conditions .condition:nth-child(1) [name="c_metric"]`), "vel_rms_x"),
		chromedp.SendKeys(chromedp.CSS(`#conditions .condition:nth-child(1) [name="c_threshold"]`), "7.1"),
		chromedp.SetValue(chromedp.CSS(`#conditions .condition:nth-child(2) [name="c_metric"]`), "temp_c"),
		chromedp.SendKeys(chromedp.CSS(`#conditions .condition:nth-child(2) [name="c_threshold"]`), "80"),
		chromedp.SetValue(chromedp.CSS(`#rule-create select[name="match"]`), "any"),
		chromedp.Click(chromedp.CSS(`#rule-create button[type="submit"]`)))
	if err != nil {
		fail("create the threshold rule", err)
	}
	poll("threshold rule listed", `[...document.querySelectorAll("#rules tr[data-rule-id]")].some(r => r.textContent.includes("vel_rms_x above 7.1 OR temp_c above 80"))`)

	var rules struct {
		Items []struct {
			Kind       string `json:"kind"`
			AssetID    int64  `json:"asset_id"`
			Zone       string `json:"zone"`
			Severity   string `json:"severity"`
			Match      string `json:"match"`
			Conditions []struct {
				Metric string `json:"metric"`
			} `json:"conditions"`
		}
	}
	if st := c.do("GET", "/api/v1/alert-rules", nil, &rules); st != 200 || len(rules.Items) != 2 {
		t.Fatalf("rules: status %d, %d rules, want 2", st, len(rules.Items))
	}
	iso, th := rules.Items[0], rules.Items[1]
	if iso.Kind != "iso_zone" || iso.Zone != "D" || iso.AssetID != asset.ID || iso.Severity != "critical" {
		t.Errorf("iso_zone rule from the form = %+v", iso)
	}
	if th.Kind != "threshold" || th.Match != "any" || len(th.Conditions) != 2 || th.Conditions[1].Metric != "temp_c" {
		t.Errorf("threshold rule from the form = %+v", th)
	}
	if errs, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.documentElement.dataset.jsErrors||"") + (document.documentElement.dataset.cspViolations||"")`)); errs != "" {
		t.Errorf("page counted JS errors or CSP violations: %q", errs)
	}
}
