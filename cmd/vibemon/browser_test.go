package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
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

// clickToPage clicks sel, which leads to another page, and returns once that
// page has loaded. A query that runs while a navigation replaces the
// document can fail with "Could not find node with given id" (the old
// document's node ids go stale under it; CI saw it after the sign-in and a
// navigation link), so the steps after a page change start from the loaded
// page.
func clickToPage(ctx context.Context, sel string) error {
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	return err
}

// consoleLog records what the pages of ctx's tab print to the console and
// the exceptions they throw, so that a failing browser test can say what
// the page did (a live handler that threw looks like a lost event).
type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func recordConsole(t *testing.T, ctx context.Context) *consoleLog {
	t.Helper()
	l := &consoleLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		var line string
		switch e := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			line = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		case *cdpruntime.EventExceptionThrown:
			d := e.ExceptionDetails
			line = fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, d.Text)
			if d.Exception != nil {
				line += " " + d.Exception.Description
			}
		default:
			return
		}
		l.mu.Lock()
		l.lines = append(l.lines, time.Now().Format("15:04:05.000")+" "+line)
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("listen to the page's console: %v", err)
	}
	return l
}

func (l *consoleLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(nothing)"
	}
	return strings.Join(l.lines, "\n")
}

// holdUpStream makes Chrome delay the handshake of the tab's WebSockets to
// baseURL+path by ms, so that a test can change something between a page's
// first load and its stream going live. It replaces earlier holdUp rules.
func holdUpStream(ctx context.Context, baseURL, path string, ms float64) error {
	return holdUp(ctx, strings.Replace(baseURL, "http", "ws", 1)+path, ms)
}

// holdUp makes Chrome delay the answers to the tab's requests whose URL
// matches pattern (a URLPattern string) by ms; an empty pattern lifts every
// earlier rule.
func holdUp(ctx context.Context, pattern string, ms float64) error {
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	rules := []*network.Conditions{}
	if pattern != "" {
		rules = append(rules, &network.Conditions{URLPattern: pattern, Latency: ms, DownloadThroughput: -1, UploadThroughput: -1})
	}
	_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: rules})
	return err
}

// headless starts Debian's Chromium for a browser test, with the flags
// this machine's closed network needs, in a window of width × height (0 ×
// 0: Chromium's default), and returns the browser's context; the browser
// stops when ctx ends or the test does.
func headless(t *testing.T, ctx context.Context, chromium string, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true))
	if width > 0 {
		opts = append(opts, chromedp.WindowSize(width, height))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return bctx
}

// notLiveYet fails with a clear message when the page's streams are live
// already: a step that changes something "before the stream is live" would
// then test nothing.
func notLiveYet(ctx context.Context) error {
	st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("live-state").dataset.state`))
	if err == nil && st == "live" {
		err = fmt.Errorf("the page's streams were live before the change (the network emulation did not hold up the WebSocket), so this step would test nothing")
	}
	return err
}

// signIn opens pageURL (a /login URL), fills in the sign-in form and
// returns once the page it leads to has loaded.
func signIn(ctx context.Context, pageURL, email, password string) error {
	err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	if err != nil {
		return err
	}
	return clickToPage(ctx, "#login-submit")
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
	// Fifteen minutes of history, so the chart starts with data; seqs 9,
	// 19, 29, 39 and 49 never arrived (54 of 0..58: 91.5 % received), and
	// the first twenty readings are five minutes earlier still: a hole in
	// time the chart must not draw a line across.
	now := time.Now().UTC()
	var history []map[string]any
	for i := range 59 {
		if i%10 == 9 {
			continue
		}
		ts := now.Add(time.Duration(i-60) * 10 * time.Second)
		if i < 20 {
			ts = ts.Add(-5 * time.Minute)
		}
		history = append(history, map[string]any{"device_id": dev.ID, "seq": i, "ts": ts.Format(time.RFC3339), "vel_rms_x": 1.0, "vel_rms_y": 1.5, "vel_rms_z": 0.8, "temp_c": 40.0})
	}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": history}, nil); st != 200 {
		t.Fatalf("ingest history: status %d", st)
	}
	// The live readings (2.5 mm/s) cross this rule and open an alert.
	if st := c.do("POST", "/api/v1/alert-rules", map[string]any{"name": "P-7 vibration", "device_id": dev.ID, "metric": "vel_rms_x", "op": "above", "threshold": 2.0, "clear": 1.5, "severity": "critical", "enabled": true}, nil); st != 201 {
		t.Fatalf("create alert rule: status %d", st)
	}
	if st := c.do("POST", "/api/v1/users", map[string]any{"email": "viewer@example.com", "name": "Vic Viewer", "role": "viewer", "password": "viewer password 1"}, nil); st != 201 {
		t.Fatalf("create viewer: status %d", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 1280, 900)

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

	poll := func(expr string) error {
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
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

	err = signIn(bctx, p.URL+"/login", testAdminEmail, testAdminPassword)
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`#fleet .card[data-asset-id="`+fmt.Sprint(asset.ID)+`"]`)))
	}
	if err != nil {
		fail("sign in and see the fleet", err)
	}
	if got, want := text(`#fleet .card h2`), "Cooling pump P-7"; got != want {
		t.Errorf("fleet card title = %q, want %q", got, want)
	}
	if got := text(`#fleet-summary`); !strings.HasPrefix(got, "1 machine") {
		t.Errorf("fleet summary = %q, want it to count 1 machine", got)
	}

	err = chromedp.Do(bctx,
		chromedp.Navigate(fmt.Sprintf("%s/devices/%d", p.URL, dev.ID)),
		chromedp.WaitVisible(chromedp.CSS("#chart-vel")))
	if err == nil {
		err = poll(`Number(document.getElementById("chart-vel").dataset.points) > 0 && document.getElementById("live-state").dataset.state === "live"`)
	}
	if err != nil {
		fail("device page loads its history and goes live", err)
	}
	// The five-minute hole is a break in both charts' lines, one point of
	// nulls, and only there (the 20 s holes of single lost readings are not).
	for _, chart := range []string{"chart-vel", "chart-temp"} {
		got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const d = document.getElementById("`+chart+`")._uplot.data, xs = d[0];
			const breaks = xs.filter((x, i) => d[1][i] === null);
			return String(breaks.length) + "@" + breaks.map(x => Math.round(Date.now() / 1000 - x)).join(","); })()`))
		// The hole runs from about 12 to about 7 minutes ago.
		var n, ago int
		if _, serr := fmt.Sscanf(got, "%d@%d", &n, &ago); err != nil || serr != nil || n != 1 || ago < 400 || ago > 720 {
			t.Errorf("%s: the breaks in its lines are %q (count@seconds ago; %v), want one, in the five-minute hole", chart, got, err)
		}
	}
	if got, want := text("#dev-name"), "P-7 drive end"; got != want {
		t.Errorf("device page title = %q, want %q", got, want)
	}
	if err := poll(`document.getElementById("t-recv").dataset.percent !== ""`); err != nil {
		fail("the received tile loads", err)
	}
	if got, want := text("#t-recv"), "91.5"; got != want {
		t.Errorf("received tile = %q %%, want %q (54 of 59 readings)", got, want)
	}

	// Readings posted now must reach the open chart without a reload.
	pctx, stopPosting := context.WithCancel(ctx)
	posted := make(chan error, 1)
	go func() { posted <- postReadings(pctx, p.URL, c.token, dev.ID, 1000) }()
	err = poll(`Number(document.getElementById("chart-vel").dataset.livePoints) >= 2`)
	if err != nil {
		stopPosting()
		fail("a live reading reaches the chart", err)
	}
	if got, want := text("#t-temp"), "41.5"; got != want {
		t.Errorf("temperature tile after live readings = %q, want %q", got, want)
	}

	// The alert the readings open appears on the open page (through
	// /ws/alerts), and an admin acknowledges it with a comment.
	err = poll(`!!document.querySelector("#dev-alerts .alert-item .alert-status[data-status=open]")`)
	stopPosting()
	if perr := <-posted; perr != nil {
		t.Errorf("posting readings: %v", perr)
	}
	if err != nil {
		fail("the new alert appears live on the device page", err)
	}
	err = chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#dev-alerts .alert-item .btn-ack")),
		chromedp.WaitVisible(chromedp.CSS("#dev-alerts .ack-form input")),
		chromedp.SendKeys(chromedp.CSS("#dev-alerts .ack-form input"), "Bearing checked"),
		chromedp.Click(chromedp.CSS("#dev-alerts .btn-ack-confirm")),
		chromedp.WaitVisible(chromedp.CSS(`#dev-alerts .alert-status[data-status="acknowledged"]`)))
	if err != nil {
		fail("acknowledge the alert", err)
	}
	var alerts struct {
		Items []struct {
			Status     string `json:"status"`
			AckComment string `json:"ack_comment"`
		} `json:"items"`
	}
	c.do("GET", fmt.Sprintf("/api/v1/alerts?device_id=%d", dev.ID), nil, &alerts)
	if len(alerts.Items) == 0 || alerts.Items[0].Status != "acknowledged" || alerts.Items[0].AckComment != "Bearing checked" {
		t.Errorf("alerts after acknowledging in the browser = %+v, want the newest acknowledged with comment %q", alerts.Items, "Bearing checked")
	}

	// Changes made between a page's first load and its alert stream going
	// live show once it is live (the stream's handshake held up 3 s): on
	// the device page the alert resolved, on the overview a new one.
	if err := holdUpStream(bctx, p.URL, "/ws/alerts", 3000); err != nil {
		fail("hold up the alert stream", err)
	}
	err = chromedp.Do(bctx, chromedp.Navigate(fmt.Sprintf("%s/devices/%d", p.URL, dev.ID)),
		chromedp.WaitVisible(chromedp.CSS(`#dev-alerts .alert-status[data-status="acknowledged"]`)))
	if err == nil {
		err = notLiveYet(bctx)
	}
	if err != nil {
		fail("reload the device page", err)
	}
	var firstAlert struct{ Items []struct{ ID int64 } }
	c.do("GET", fmt.Sprintf("/api/v1/alerts?device_id=%d", dev.ID), nil, &firstAlert)
	if len(firstAlert.Items) == 0 {
		t.Fatal("no alert of the device to resolve")
	}
	if st := c.do("POST", fmt.Sprintf("/api/v1/alerts/%d/resolve", firstAlert.Items[0].ID), map[string]any{}, nil); st != 200 {
		t.Fatalf("resolve over the API: status %d", st)
	}
	if err := poll(`!!document.querySelector('#dev-alerts .alert-status[data-status="resolved"]') && document.getElementById("live-state").dataset.state === "live"`); err != nil {
		fail("the device page shows the alert resolved while its stream connected", err)
	}
	card := fmt.Sprintf(`#fleet .card[data-asset-id="%d"]`, asset.ID)
	err = chromedp.Do(bctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.CSS(card)))
	if err == nil {
		err = notLiveYet(bctx)
	}
	if err != nil {
		fail("open the overview again", err)
	}
	if st, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('`+card+`').dataset.status`)); st == "critical" {
		t.Fatalf("the overview shows the machine critical before the new alert")
	}
	breach := map[string]any{"readings": []map[string]any{{"device_id": dev.ID, "seq": 5000, "ts": time.Now().UTC().Format(time.RFC3339Nano), "vel_rms_x": 3.1}}}
	if st := c.do("POST", "/api/v1/telemetry", breach, nil); st != 200 {
		t.Fatalf("post a breach: status %d", st)
	}
	if err := poll(`document.querySelector('` + card + `').dataset.status === "critical" && document.getElementById("live-state").dataset.state === "live"`); err != nil {
		fail("the overview shows an alert opened while its stream connected", err)
	}

	// An expired or bad access token is refreshed without the user noticing.
	err = chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`localStorage.setItem("vibemon.access", "expired")`),
		chromedp.Navigate(p.URL+"/alerts"),
		chromedp.WaitVisible(chromedp.CSS("#alerts .alert-item")))
	if err != nil {
		fail("alerts page with a stale access token", err)
	}
	if tok, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.pathname + " " + localStorage.getItem("vibemon.access")`)); tok == "/alerts expired" || tok[:7] != "/alerts" {
		t.Errorf("after a 401 the page shows %q, want /alerts with a refreshed token", tok)
	}

	// No uncaught error and no CSP violation on any page so far.
	if got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(document.documentElement.dataset)`)); got != "{}" {
		t.Errorf("page diagnostics = %s, want no js errors and no CSP violations", got)
	}

	// A refresh that fails sends the user to sign in, remembering the page.
	err = chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`localStorage.setItem("vibemon.access", "x"); localStorage.setItem("vibemon.refresh", "y")`),
		chromedp.Navigate(p.URL+"/alerts?severity=critical"))
	if err == nil {
		// The page navigates away by itself, which aborts a Poll; ask again.
		want := "/login?next=" + url.QueryEscape("/alerts?severity=critical")
		var got string
		for deadline := time.Now().Add(20 * time.Second); got != want && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			got, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.pathname + location.search : ""`))
		}
		if got != want {
			err = fmt.Errorf("page is %q, want %q", got, want)
		}
	}
	if err != nil {
		fail("a failed refresh leads to /login", err)
	}

	// A viewer sees the alerts but no buttons to change them.
	err = signIn(bctx, p.URL+"/login?next="+url.QueryEscape("/alerts?severity=critical"), "viewer@example.com", "viewer password 1")
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#alerts .alert-item")))
	}
	if err != nil {
		fail("viewer signs in and lands on the page they asked for", err)
	}
	if got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.pathname + location.search + " " + document.getElementById("f-severity").value`)); got != "/alerts?severity=critical critical" {
		t.Errorf("after sign-in the viewer is at %q, want the alerts page filtered to critical", got)
	}
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#alerts .btn-ack, #alerts .btn-resolve").length`)); n != 0 {
		t.Errorf("viewer sees %d acknowledge/resolve buttons, want 0", n)
	}
	if hidden, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("nav-users").hidden`)); !hidden {
		t.Errorf("viewer sees the Users link, want it hidden")
	}

	// A device, machine or alert that does not exist: the page says so and
	// shows the way back, not empty tiles and a list loading for ever.
	for _, nf := range []struct{ path, root, says string }{
		{"/devices/999999", "device", "device does not exist"},
		{"/assets/999999", "asset", "machine does not exist"},
		{"/alerts/999999", "alert", "no such alert"},
	} {
		err := chromedp.Do(bctx, chromedp.Navigate(p.URL+nf.path))
		if err == nil {
			err = poll(`(() => { const e = document.getElementById("page-error"), root = document.getElementById("` + nf.root + `");
				return !e.hidden && e.textContent.includes("` + nf.says + `") &&
					[...root.children].every(c => c.matches(".crumbs, #page-error") || c.offsetParent === null); })()`)
		}
		if err != nil {
			shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.getElementById("`+nf.root+`").children].filter(c => c.offsetParent !== null).map(c => c.tagName + "." + c.className + "#" + c.id).join(", ")`))
			fail(nf.path+" says it does not exist and shows nothing else (shown: "+shown+")", err)
		}
	}
}

// outerRaceBurst is a raw burst as a node posts it (POST
// /devices/{id}/waveforms): a machine at rpm with a medium outer-race
// defect on a 6205, measured by a piezo at 12 kHz, int16 little-endian
// interleaved x,y,z in base64.
func outerRaceBurst(t *testing.T, rpm float64, ts time.Time) map[string]any {
	t.Helper()
	b, ok := dsp.LookupBearing("6205")
	if !ok {
		t.Fatal("bearing 6205 not in the catalogue")
	}
	sc := sim.Scenario{Fault: dsp.FaultOuterRace, Severity: sim.SeverityMedium, Noise: sim.NoiseLow, Sensor: sim.Piezo(12000)}
	const n = 16384
	var axes [3][]float64
	for a := range axes {
		axes[a] = make([]float64, n)
	}
	sc.Sensor.Measure(axes, sc.Model(rpm, b, 7), 0)
	peak := 1e-6
	for _, ax := range axes {
		for _, v := range ax {
			peak = math.Max(peak, math.Abs(v))
		}
	}
	scale := peak / 32767
	raw := make([]byte, 0, 6*n)
	for i := range n {
		for a := range 3 {
			raw = binary.LittleEndian.AppendUint16(raw, uint16(int16(math.Round(axes[a][i]/scale))))
		}
	}
	return map[string]any{"ts": ts.UTC().Format(time.RFC3339), "sample_rate_hz": 12000, "scale_g": scale, "axes": 3, "data": base64.StdEncoding.EncodeToString(raw)}
}

// TestBrowserShowsMachineHealthAndSpectra opens a machine whose sensor
// posted a raw burst with a bearing defect: the health card says the zone
// and the diagnosis in words, the trend has points, the spectrum and the
// envelope spectrum carry fault-frequency markers, a click on a peak puts
// cursors on its harmonics, the waterfall has a row, and a 375 px phone
// gets no page-wide sideways scrolling. No JS error, no CSP violation.
func TestBrowserShowsMachineHealthAndSpectra(t *testing.T) {
	chromium := chromiumPath(t)
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	const rpm = 1780
	var asset, dev struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Fan F-2", "type": "fan", "rpm": rpm, "iso_group": 2, "foundation": "rigid", "bearing": "6205"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:F2", "name": "F-2 drive end", "asset_id": asset.ID}, &dev); st != 201 {
		t.Fatalf("register device: status %d", st)
	}
	// Ten days of hourly readings, slowly rising, for the trend chart.
	now := time.Now().UTC().Truncate(time.Hour)
	var history []map[string]any
	for i := range 240 {
		v := 1.2 + 0.006*float64(i)
		history = append(history, map[string]any{"device_id": dev.ID, "seq": i, "ts": now.Add(time.Duration(i-239) * time.Hour).Format(time.RFC3339), "vel_rms_x": v, "vel_rms_y": v * 0.8, "vel_rms_z": v * 0.5})
	}
	// And the last minutes, which give the ISO zone (3.1 mm/s: zone C).
	for i := range 5 {
		history = append(history, map[string]any{"device_id": dev.ID, "seq": 1000 + i, "ts": time.Now().UTC().Add(time.Duration(i-5) * time.Minute).Format(time.RFC3339), "vel_rms_x": 3.1, "vel_rms_y": 2.4, "vel_rms_z": 1.5})
	}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": history}, nil); st != 200 {
		t.Fatalf("ingest history: status %d", st)
	}
	// A diagnosis rule: the burst below opens its alert.
	if st := c.do("POST", "/api/v1/alert-rules", map[string]any{"name": "Outer race", "kind": "diagnosis", "fault": "bearing_outer_race", "severity": "warning"}, nil); st != 201 {
		t.Fatalf("create a diagnosis rule: status %d", st)
	}
	var wf struct{ ID int64 }
	st := c.do("POST", fmt.Sprintf("/api/v1/devices/%d/waveforms", dev.ID), outerRaceBurst(t, rpm, time.Now()), &wf)
	if st != 201 {
		t.Fatalf("post burst: status %d", st)
	}
	var status string
	for deadline := time.Now().Add(20 * time.Second); status != "done" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var d struct {
			AnalysisStatus string `json:"analysis_status"`
		}
		c.do("GET", fmt.Sprintf("/api/v1/devices/%d/waveforms/%d", dev.ID, wf.ID), nil, &d)
		status = d.AnalysisStatus
	}
	if status != "done" {
		t.Fatalf("burst analysis status = %q after 20 s, want done", status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 1280, 900)
	eval := func(expr string) string {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return s
	}
	fail := func(step string, err error) {
		t.Helper()
		t.Fatalf("%s: %v (page %s, error banner %q, diagnostics %s)", step, err, eval(`location.href`),
			eval(`(document.getElementById("page-error")||{}).textContent||""`), eval(`JSON.stringify(document.documentElement.dataset)`))
	}
	poll := func(expr string) error {
		_, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}

	page := fmt.Sprintf("%s/assets/%d", p.URL, asset.ID)
	err := signIn(bctx, p.URL+"/login?next="+url.QueryEscape(fmt.Sprintf("/assets/%d", asset.ID)), testAdminEmail, testAdminPassword)
	if err == nil {
		err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#health-body")))
	}
	if err == nil {
		err = poll(`(() => { const s = document.getElementById("chart-spectrum").dataset, e = document.getElementById("chart-envelope").dataset;
			return +s.points > 0 && +s.markers > 0 && +e.points > 0 && +e.markers > 0 &&
				+document.getElementById("chart-trend").dataset.points > 0 && +document.getElementById("waterfall").dataset.rows >= 1; })()`)
	}
	if err != nil {
		fail("the machine page draws its trend, spectra with markers and the waterfall", err)
	}
	if got, want := eval(`document.getElementById("h-zone").textContent`), "Zone C: restricted operation — plan maintenance"; !strings.Contains(got, want) {
		t.Errorf("ISO zone badge = %q, want %q", got, want)
	}
	if got := eval(`document.getElementById("h-diag-text").textContent`); !strings.Contains(got, "Outer race defect") {
		t.Errorf("diagnosis = %q, want it to name the outer race defect of the posted burst", got)
	}
	// The burst (under 1 mm/s) is below the level the shaft rules start
	// from, the machine's alarm level (its first day's baseline, about
	// 1.3 mm/s, + 0.7): the evidence says so.
	if got := eval(`(document.querySelector("#h-evidence-list .shaft-gate")||{}).textContent||""`); !strings.Contains(got, "judged from") || !strings.Contains(got, "alarm level") || !strings.Contains(got, "this burst had") {
		t.Errorf("evidence about the shaft rules' level = %q, want the level they start from (the alarm level) and the burst's velocity", got)
	}
	if got := eval(`[...document.querySelectorAll("#wf-keys .key-chip")].map(b => b.textContent).join("|")`); !strings.Contains(got, "BPFO") {
		t.Errorf("marker keys = %q, want a BPFO key", got)
	}

	// Click the 1× peak of the spectrum: cursors at 1×…5× appear.
	xy := eval(`(() => { const el = document.getElementById("chart-spectrum"), u = el._uplot;
		el.scrollIntoView({ block: "center" });
		const r = u.over.getBoundingClientRect();
		return (r.left + u.valToPos(` + fmt.Sprint(rpm/60.0) + `, "x")) + "," + (r.top + r.height / 2); })()`)
	var x, y float64
	if _, err := fmt.Sscanf(xy, "%g,%g", &x, &y); err != nil {
		t.Fatalf("position of the 1x peak: %q", xy)
	}
	err = chromedp.Do(bctx, chromedp.MouseClickXY(x, y))
	if err == nil {
		err = poll(`+document.getElementById("chart-spectrum").dataset.cursors >= 3`)
	}
	if err != nil {
		fail("a click on a peak puts harmonic cursors", err)
	}
	if got := eval(`document.getElementById("wf-cursors").textContent`); !strings.Contains(got, "Harmonics of") || !strings.Contains(got, "2×") {
		t.Errorf("cursor read-out = %q, want the harmonics and their frequencies", got)
	}

	// Log amplitude redraws with the markers still there.
	err = chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#wf-scale [data-scale="log"]`)))
	if err == nil {
		err = poll(`document.querySelector('#wf-scale [data-scale="log"]').getAttribute("aria-pressed") === "true" && +document.getElementById("chart-spectrum").dataset.markers > 0 && +document.getElementById("chart-spectrum").dataset.points > 0`)
	}
	if err != nil {
		fail("log amplitude", err)
	}

	// The four health cards: one row on a 1024 px screen, two by two on a
	// tablet, one column on a phone; never three and one left over.
	rows := `String(new Set([...document.querySelectorAll("#health-body .health-item")].map(e => e.offsetTop)).size)`
	for _, vp := range []struct {
		width int
		rows  string
	}{{1024, "1"}, {800, "2"}, {375, "4"}} {
		err = chromedp.Do(bctx, chromedp.EmulateViewport(int64(vp.width), 800), chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#health-body")))
		if err != nil {
			fail("the machine page", err)
		}
		if got := eval(rows); got != vp.rows {
			t.Errorf("at %d px the health cards take %s rows, want %s", vp.width, got, vp.rows)
		}
	}

	// A 375 px phone: charts fit or scroll inside their panel, the page does not.
	err = chromedp.Do(bctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#health-body")))
	if err == nil {
		err = poll(`+document.getElementById("chart-spectrum").dataset.markers > 0 && +document.getElementById("waterfall").dataset.rows >= 1`)
	}
	if err != nil {
		fail("the machine page on a phone", err)
	}
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "375" {
		t.Errorf("page width on a 375 px phone = %s px, want 375 (no sideways scrolling of the page)", w)
	}
	if got := eval(`JSON.stringify(document.documentElement.dataset)`); got != "{}" {
		t.Errorf("page diagnostics = %s, want no js errors and no CSP violations", got)
	}

	// The diagnosis alert, in the alert list and on the device's page: it
	// names the axis's velocity but no limit (a diagnosis has none; the
	// lists once said "limit 0.00 mm/s").
	for _, lp := range []struct{ path, sel string }{{"/alerts", "#alerts"}, {fmt.Sprintf("/devices/%d", dev.ID), "#dev-alerts"}} {
		item := lp.sel + ` .alert-item`
		err = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(p.URL+lp.path))
		if err == nil {
			err = poll(`[...document.querySelectorAll("` + item + `")].some(e => e.textContent.includes("outer race"))`)
		}
		if err != nil {
			fail("the diagnosis alert in "+lp.path, err)
		}
		got := eval(`[...document.querySelectorAll("` + item + `")].find(e => e.textContent.includes("outer race")).textContent`)
		if !strings.Contains(got, "Velocity RMS") || strings.Contains(got, "limit") {
			t.Errorf("the diagnosis alert in %s reads %q, want the velocity without a limit", lp.path, got)
		}
		// Its headline is the finding; the peaks are the line below.
		head := eval(`[...document.querySelectorAll("` + item + `")].find(e => e.textContent.includes("outer race")).querySelector(".alert-link").textContent`)
		evidence := eval(`[...document.querySelectorAll("` + item + `")].find(e => e.textContent.includes("outer race")).querySelector(".alert-evidence").textContent`)
		if !strings.Contains(head, "likely an outer race bearing defect") || strings.Contains(head, "BPFO") || !strings.Contains(evidence, "BPFO at") {
			t.Errorf("the diagnosis alert in %s: headline %q, evidence %q; want the finding, then its BPFO peaks", lp.path, head, evidence)
		}
	}
	// The alert's page likewise.
	err = clickToPage(bctx, `#dev-alerts .alert-item .alert-link`)
	if err == nil {
		err = poll(`document.getElementById("al-title").textContent.includes("outer race") && !document.getElementById("al-evidence").hidden`)
	}
	if err != nil {
		fail("the diagnosis alert's page", err)
	}
	if head, evidence := eval(`document.getElementById("al-title").textContent`), eval(`document.getElementById("al-evidence").textContent`); strings.Contains(head, "BPFO") || !strings.Contains(evidence, "BPFO at") {
		t.Errorf("the alert page's title %q and evidence %q, want the finding, then its BPFO peaks", head, evidence)
	}
}
