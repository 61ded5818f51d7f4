package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath returns the Chromium binary, skipping the test when there is
// none, unless VIBEMON_TEST_STRICT=1 makes a missing browser a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("VIBEMON_TEST_STRICT") == "1" {
			t.Fatalf("chromium is not installed (VIBEMON_TEST_STRICT=1): %v", err)
		}
		t.Skip("chromium is not installed; skipping the browser test (apt-get install chromium, or set VIBEMON_TEST_STRICT=1 to fail instead)")
	}
	return p
}

// postReadings sends one reading per tick for device until ctx ends, as a
// gateway would. It runs in its own goroutine, so it reports by returning.
func postReadings(ctx context.Context, base, token string, device int64, firstSeq int) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for seq := firstSeq; ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		b, _ := json.Marshal(map[string]any{"readings": []map[string]any{{
			"device_id": device, "seq": seq, "ts": time.Now().UTC().Format(time.RFC3339Nano),
			"vel_rms_x": 2.5, "vel_rms_y": 1.8, "vel_rms_z": 0.9, "temp_c": 41.5, "battery_v": 3.6,
		}}})
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/telemetry", bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("post telemetry: status %d", resp.StatusCode)
		}
	}
}

// TestBrowserShowsLiveReadings drives the panel in headless Chromium: sign in
// through the form, see the machine on the fleet page, open its sensor and
// watch a reading posted after the page loaded arrive in the chart over the
// WebSocket.
func TestBrowserShowsLiveReadings(t *testing.T) {
	chromium := chromiumPath(t)
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	var asset, dev struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Cooling pump P-7", "type": "pump", "rpm": 2950, "iso_group": 2, "foundation": "rigid", "bearing": "6205"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:07", "name": "P-7 drive end", "asset_id": asset.ID}, &dev); st != 201 {
		t.Fatalf("register device: status %d", st)
	}
	// Ten minutes of history, so the chart starts with data.
	now := time.Now().UTC()
	var history []map[string]any
	for i := range 60 {
		history = append(history, map[string]any{"device_id": dev.ID, "seq": i, "ts": now.Add(time.Duration(i-60) * 10 * time.Second).Format(time.RFC3339), "vel_rms_x": 2.0, "vel_rms_y": 1.5, "vel_rms_z": 0.8, "temp_c": 40.0})
	}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": history}, nil); st != 200 {
		t.Fatalf("ingest history: status %d", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	text := func(sel string) string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return s
	}
	fail := func(step string, err error) {
		t.Helper()
		pageErr, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.getElementById("page-error")||{}).textContent||""`))
		url, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href`))
		t.Fatalf("%s: %v (page %s, error banner %q)", step, err, url, pageErr)
	}

	// A wrong password shows the API's message in the form.
	err := chromedp.Do(bctx,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), testAdminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if err != nil {
		fail("wrong password", err)
	}
	if got := text("#login-error"); got == "" {
		t.Errorf("wrong password: the form shows no error message")
	}

	err = chromedp.Do(bctx,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), testAdminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), testAdminPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#fleet .card[data-asset-id="`+fmt.Sprint(asset.ID)+`"]`)))
	if err != nil {
		fail("sign in and see the fleet", err)
	}
	if got, want := text(`#fleet .card h2`), "Cooling pump P-7"; got != want {
		t.Errorf("fleet card title = %q, want %q", got, want)
	}

	err = chromedp.Do(bctx,
		chromedp.Navigate(fmt.Sprintf("%s/devices/%d", p.URL, dev.ID)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`Number(document.getElementById("chart-vel").dataset.points) > 0 && document.getElementById("live-state").dataset.state === "live"`,
				chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}))
	if err != nil {
		fail("device page loads its history and goes live", err)
	}
	if got, want := text("#dev-name"), "P-7 drive end"; got != want {
		t.Errorf("device page title = %q, want %q", got, want)
	}

	// Readings posted now must reach the open chart without a reload.
	pctx, stopPosting := context.WithCancel(ctx)
	posted := make(chan error, 1)
	go func() { posted <- postReadings(pctx, p.URL, c.token, dev.ID, 1000) }()
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`Number(document.getElementById("chart-vel").dataset.livePoints) >= 2`,
		chromedp.WithPollingTimeout(20*time.Second)))
	stopPosting()
	if perr := <-posted; perr != nil {
		t.Errorf("posting readings: %v", perr)
	}
	if err != nil {
		fail("a live reading reaches the chart", err)
	}
	if got, want := text("#t-temp"), "41.5"; got != want {
		t.Errorf("temperature tile after live readings = %q, want %q", got, want)
	}
}
