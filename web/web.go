package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the panel. The zero value is ready to use.
type Config struct {
	// Logger receives errors while rendering pages. Defaults to a logger
	// that discards everything.
	Logger *slog.Logger
	// Title is the product name shown in the header and the browser tab.
	// Defaults to "VibeMon".
	Title string
}

// page is one HTML page: its template file and the JS module that drives it.
type page struct {
	file   string // under templates/
	title  string // shown in the tab, after the product title
	nav    string // which header link is active
	script string // under static/
}

var pages = map[string]page{
	"login":         {"login.html", "Sign in", "", "js/login.js"},
	"overview":      {"overview.html", "Fleet", "overview", "js/overview.js"},
	"device":        {"device.html", "Device", "overview", "js/device.js"},
	"alerts":        {"alerts.html", "Alerts", "alerts", "js/alerts.js"},
	"alert":         {"alert.html", "Alert", "alerts", "js/alert.js"},
	"users":         {"users.html", "Users", "users", "js/users.js"},
	"notifications": {"notifications.html", "Notifications", "notifications", "js/notifications.js"},
	"assets":        {"assets.html", "Machines", "assets", "js/assets.js"},
	"asset":         {"asset.html", "Machine", "assets", "js/asset.js"},
	"rules":         {"rules.html", "Alert rules", "rules", "js/rules.js"},
	"reports":       {"reports.html", "Condition report", "reports", "js/reports.js"},
	"notfound":      {"notfound.html", "Not found", "", ""},
}

// pageData is what every page template sees.
type pageData struct {
	Title    string // product title
	Page     string // page title
	Nav      string
	Script   string // versioned URL of the page's module, "" for none
	DeviceID int64
	AssetID  int64
	AlertID  int64
}

type handler struct {
	log    *slog.Logger
	title  string
	assets *assetSet
	tmpl   map[string]*template.Template
}

// Handler returns the panel: the pages /login, /, /devices/{id}, /alerts,
// /alerts/{id} (an alert, its timeline and the chart around its trigger),
// /users, /assets, /assets/{id} (a machine's health and spectra) and the
// static files under /static/. Mount it at "/" next
// to the API; the more specific /api/ and /ws/ patterns take precedence.
func Handler(cfg Config) http.Handler {
	h, err := newHandler(cfg)
	if err != nil {
		// The templates and files are embedded and checked by the tests, so
		// this is a programming error, not a runtime condition.
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", h.assets)
	mux.Handle("GET /favicon.ico", http.RedirectHandler(h.assets.mustURL("favicon.svg"), http.StatusMovedPermanently))
	mux.Handle("GET /{$}", h.page("overview"))
	mux.Handle("GET /login", h.page("login"))
	mux.Handle("GET /alerts", h.page("alerts"))
	mux.Handle("GET /alerts/{id}", h.page("alert"))
	mux.Handle("GET /rules", h.page("rules"))
	mux.Handle("GET /reports", h.page("reports"))
	mux.Handle("GET /users", h.page("users"))
	mux.Handle("GET /notifications", h.page("notifications"))
	mux.Handle("GET /assets", h.page("assets"))
	mux.Handle("GET /assets/{id}", h.page("asset"))
	mux.Handle("GET /devices/{id}", h.page("device"))
	mux.Handle("/", h.notFound())
	return securityHeaders(mux)
}

func newHandler(cfg Config) (*handler, error) {
	h := &handler{log: cfg.Logger, title: cfg.Title}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.title == "" {
		h.title = "VibeMon"
	}
	var err error
	if h.assets, err = embeddedAssets(); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"asset": h.assets.url}
	h.tmpl = make(map[string]*template.Template, len(pages))
	for name, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p.file)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", p.file, err)
		}
		if p.script != "" {
			if _, ok := h.assets.files[p.script]; !ok {
				return nil, fmt.Errorf("page %s: script %s is not embedded", name, p.script)
			}
		}
		h.tmpl[name] = t
	}
	return h, nil
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, name string, status int, d pageData) {
	p := pages[name]
	d.Title, d.Page, d.Nav = h.title, p.title, p.nav
	if p.script != "" {
		d.Script = h.assets.mustURL(p.script)
	}
	var buf bytes.Buffer
	if err := h.tmpl[name].Execute(&buf, d); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Pages are small shells that name versioned assets; always revalidate
	// so a new binary's assets are picked up at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func (h *handler) page(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d pageData
		if name == "device" || name == "asset" || name == "alert" {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
			if err != nil || id <= 0 {
				h.render(w, r, "notfound", http.StatusNotFound, pageData{})
				return
			}
			switch name {
			case "device":
				d.DeviceID = id
			case "asset":
				d.AssetID = id
			default:
				d.AlertID = id
			}
		}
		h.render(w, r, name, http.StatusOK, d)
	})
}

func (h *handler) notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, "notfound", http.StatusNotFound, pageData{})
	})
}

// embeddedAssets reads and compresses the embedded files once per process:
// they never change while it runs.
var embeddedAssets = sync.OnceValues(func() (*assetSet, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	s, err := newAssetSet(sub)
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	return s, nil
})

// validHost matches what may appear in a Host header; anything else is left
// out of the policy rather than echoed into a header.
var validHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// ContentSecurityPolicy returns the policy the panel is served with for a
// request to host: scripts, styles, images, fonts and connections only from
// the panel's own origin, plus WebSockets (ws: and wss:) to the same host,
// which older browsers do not include in 'self'.
func ContentSecurityPolicy(host string) string {
	connect := "'self'"
	if validHost.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src " + connect + "; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy(r.Host))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
