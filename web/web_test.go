package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// get serves one request through the panel and returns the recorded answer.
func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "panel.example:8080"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// checkCSP asserts the strict policy every answer must carry.
func checkCSP(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'none'",
		"script-src 'self';",
		"style-src 'self';",
		"connect-src 'self' ws://panel.example:8080 wss://panel.example:8080;",
		"frame-ancestors 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy = %q, want it to contain %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("Content-Security-Policy = %q allows inline code, eval or wildcards", csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

func TestPagesAreHTMLWithStrictCSP(t *testing.T) {
	h := Handler(Config{Title: "Plant 3"})
	tests := []struct {
		path       string
		wantStatus int
		wantText   []string
	}{
		{"/login", 200, []string{`id="login-form"`, "<title>Sign in · Plant 3</title>", `autocomplete="current-password"`}},
		{"/", 200, []string{`id="fleet"`, `id="live-state"`, "Plant 3"}},
		{"/devices/42", 200, []string{`data-device-id="42"`, `id="chart-vel"`, `data-live-points="0"`, "uPlot.iife.min.js"}},
		{"/alerts", 200, []string{`id="f-status"`, `id="f-severity"`, `id="f-assignee"`}},
		{"/alerts/9", 200, []string{`data-alert-id="9"`, `id="alert-timeline"`, `id="chart-alert"`, "uPlot.iife.min.js", "<title>Alert · Plant 3</title>"}},
		{"/alerts/x", 404, []string{"Page not found"}},
		{"/users", 200, []string{`id="user-create"`}},
		{"/notifications", 200, []string{`id="prefs"`, `id="telegram-link"`}},
		{"/assets", 200, []string{`id="asset-form"`, `name="iso_group"`, `name="foundation"`}},
		{"/assets/7", 200, []string{`data-asset-id="7"`, `id="health"`, `id="chart-trend"`, `id="chart-spectrum"`, `id="chart-envelope"`, `data-markers="0"`, `id="waterfall"`, "uPlot.iife.min.js", "<title>Machine · Plant 3</title>"}},
		{"/assets/x", 404, []string{"Page not found"}},
		{"/assets/-3", 404, []string{"Page not found"}},
		{"/devices/abc", 404, []string{"Page not found"}},
		{"/devices/0", 404, []string{"Page not found"}},
		{"/no/such/page", 404, []string{"Page not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := get(t, h, tt.path)
			b := body(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			checkCSP(t, resp)
			for _, w := range tt.wantText {
				if !strings.Contains(b, w) {
					t.Errorf("page does not contain %q", w)
				}
			}
		})
	}
}

func TestDefaultTitleIsVibeMon(t *testing.T) {
	b := body(t, get(t, Handler(Config{}), "/"))
	if !strings.Contains(b, "<title>Fleet · VibeMon</title>") {
		t.Errorf("page title missing the default product name; page starts %q", b[:min(300, len(b))])
	}
}

// The CSP forbids inline code, so a page with an inline script, a style
// attribute or an on* handler would silently break in the browser.
func TestPagesHaveNoInlineCode(t *testing.T) {
	h := Handler(Config{})
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	handlerAttr := regexp.MustCompile(`\son[a-z]+\s*=`)
	for _, p := range []string{"/login", "/", "/devices/1", "/alerts", "/alerts/1", "/users", "/assets", "/assets/1", "/nope"} {
		b := body(t, get(t, h, p))
		for _, tag := range inlineScript.FindAllString(b, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("%s: inline script %q is blocked by the CSP", p, tag)
			}
		}
		if strings.Contains(b, "<style") || strings.Contains(b, " style=") {
			t.Errorf("%s: inline style is blocked by the CSP", p)
		}
		if m := handlerAttr.FindString(b); m != "" {
			t.Errorf("%s: inline event handler %q is blocked by the CSP", p, m)
		}
	}
}

func TestCSPNeverEchoesABadHost(t *testing.T) {
	for _, host := range []string{"evil.example; script-src *", "a b", "x\"y", ""} {
		csp := ContentSecurityPolicy(host)
		if strings.Contains(csp, "ws://") || strings.Contains(csp, "*") {
			t.Errorf("ContentSecurityPolicy(%q) = %q, want no ws: source and no wildcard", host, csp)
		}
	}
	for _, host := range []string{"localhost:8080", "vibemon.plant.example", "[::1]:8099", "127.0.0.1:0"} {
		if csp := ContentSecurityPolicy(host); !strings.Contains(csp, "wss://"+host+";") {
			t.Errorf("ContentSecurityPolicy(%q) = %q, want wss://%s", host, csp, host)
		}
	}
}

func TestStaticFilesHaveContentTypeAndCaching(t *testing.T) {
	h := Handler(Config{})
	a := mustAssets(t)
	wantType := map[string]string{
		".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", "": "text/plain; charset=utf-8",
	}
	if len(a.files) < 10 {
		t.Fatalf("only %d static files embedded", len(a.files))
	}
	for name, f := range a.files {
		t.Run(name, func(t *testing.T) {
			url := a.mustURL(name)
			resp := get(t, h, url)
			b := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: status %d", url, resp.StatusCode)
			}
			if got, want := resp.Header.Get("Content-Type"), wantType[path.Ext(name)]; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			checkCSP(t, resp)
			if b != string(f.body) {
				t.Errorf("body differs from the embedded file")
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("versioned URL Cache-Control = %q, want immutable", got)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			// Unversioned (as module imports ask): revalidate, then 304.
			resp = get(t, h, "/static/"+name)
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("unversioned Cache-Control = %q, want no-cache", got)
			}
			if resp = get(t, h, "/static/"+name, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the ETag: status %d, want 304", resp.StatusCode)
			}
			// A stale version must not be cached forever.
			if resp = get(t, h, "/static/"+name+"?v=0000"); resp.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("stale ?v= Cache-Control = %q, want no-cache", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestStaticFilesAreGzippedWhenAccepted(t *testing.T) {
	h := Handler(Config{})
	name := "vendor/uplot/uPlot.iife.min.js"
	resp := get(t, h, "/static/"+name, "Accept-Encoding", "gzip, deflate, br")
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	got, _ := io.ReadAll(zr)
	want, _ := fs.ReadFile(staticFS, "static/"+name)
	if !bytes.Equal(got, want) {
		t.Errorf("gunzipped body (%d bytes) differs from the file (%d bytes)", len(got), len(want))
	}
	if resp := get(t, h, "/static/"+name, "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if resp := get(t, h, "/static/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing static file: status %d, want 404", resp.StatusCode)
	}
}

func mustAssets(t *testing.T) *assetSet {
	t.Helper()
	h, err := newHandler(Config{})
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	return h.assets
}

// Every file a page or a module names must be served: a typo in a src, an
// href or an import would otherwise only show up in a user's browser.
func TestEveryReferencedFileIsServed(t *testing.T) {
	h := Handler(Config{})
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	imp := regexp.MustCompile(`(?m)^\s*import\s[^;]*?from\s+"(\./[^"]+)"`)
	seen := map[string]bool{}
	var queue []string
	for _, p := range []string{"/login", "/", "/devices/7", "/alerts", "/alerts/7", "/users", "/assets", "/assets/7", "/nope"} {
		for _, m := range ref.FindAllStringSubmatch(body(t, get(t, h, p)), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				queue = append(queue, m[1])
			}
		}
	}
	if len(queue) < 5 {
		t.Fatalf("found only %d static references in the pages: %v", len(queue), queue)
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		resp := get(t, h, u)
		b := body(t, resp)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s (referenced): status %d", u, resp.StatusCode)
			continue
		}
		if !strings.HasSuffix(strings.SplitN(u, "?", 2)[0], ".js") {
			continue
		}
		dir := path.Dir(strings.SplitN(u, "?", 2)[0])
		for _, m := range imp.FindAllStringSubmatch(b, -1) {
			dep := path.Join(dir, m[1])
			if !seen[dep] {
				seen[dep] = true
				queue = append(queue, dep)
			}
		}
	}
	for _, want := range []string{"/static/js/api.js", "/static/js/live.js", "/static/js/ui.js", "/static/js/alertview.js", "/static/js/words.js", "/static/js/plots.js"} {
		if !seen[want] {
			t.Errorf("%s is never reached from a page", want)
		}
	}
}

// The modules must parse as ES modules. Node checks the syntax when it is
// installed; without it the test is skipped (the reference test above still
// runs).
func TestJavaScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; JavaScript syntax not checked")
	}
	dir := t.TempDir()
	err = fs.WalkDir(staticFS, "static/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFS, p)
		if err != nil {
			return err
		}
		f := filepath.Join(dir, strings.TrimSuffix(path.Base(p), ".js")+".mjs")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return err
		}
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", p, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVendoredUPlotIsComplete(t *testing.T) {
	for _, name := range []string{"uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "VERSION"} {
		b, err := fs.ReadFile(staticFS, "static/vendor/uplot/"+name)
		if err != nil || len(b) == 0 {
			t.Errorf("vendor/uplot/%s missing or empty: %v", name, err)
		}
	}
}

// The health card's sentences come from words.js; its Node tests
// (testdata/words_test.mjs) pin them. Skipped without Node.
func TestWordsForEngineers(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; words.js not tested")
	}
	out, err := exec.Command(node, "--test", "testdata/words_test.mjs").CombinedOutput()
	if err != nil {
		t.Errorf("node --test testdata/words_test.mjs: %v\n%s", err, out)
	}
}
