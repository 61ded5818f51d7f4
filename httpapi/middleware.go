package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

// statusWriter remembers the status and size of a response. It passes
// Flush and Hijack through, which the WebSocket handler needs.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hijack: %T is not a Hijacker", w.ResponseWriter)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func wrap(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
}

// recoverPanics answers a panicking handler with a 500 JSON error and logs
// the panic with its stack.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := wrap(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.writeError(sw, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// logRequests logs one line per request.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw := wrap(w)
		next.ServeHTTP(sw, r)
		// Successful requests are counted in /metrics and logged only at
		// debug level: a fleet posting every second would otherwise bury
		// what an operator needs to see. Refused requests are worth a line.
		level := s.log.Debug
		switch {
		case sw.status >= 500:
			level = s.log.Warn
		case sw.status >= 400:
			level = s.log.Info
		}
		level("http request", "method", r.Method, "path", r.URL.Path, "route", r.Pattern,
			"status", sw.status, "bytes", sw.bytes, "duration", s.now().Sub(start), "remote", r.RemoteAddr)
	})
}

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	accepted   prometheus.Counter
	duplicates prometheus.Counter
	rejected   prometheus.Counter

	telegramWebhook *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vibemon_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"})),
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vibemon_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"})),
		accepted: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_readings_accepted_total",
			Help: "Readings stored by POST /telemetry.",
		})),
		duplicates: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_readings_duplicates_total",
			Help: "Readings of POST /telemetry that were already stored.",
		})),
		rejected: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_readings_rejected_total",
			Help: "Readings of POST /telemetry rejected as invalid or of an unknown device.",
		})),
		telegramWebhook: newTelegramWebhookCounter(reg),
	}
}

// register registers c, or returns the collector already registered under
// its name, so that two servers may share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("httpapi: register metric: %v", err))
	}
	return c
}

// instrument counts requests and measures their latency by route pattern;
// the mux sets r.Pattern on the request it is given.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := wrap(w)
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

type claimsKey struct{}

// claimsFrom returns the authenticated caller's claims.
func claimsFrom(ctx context.Context) auth.Claims {
	c, _ := ctx.Value(claimsKey{}).(auth.Claims)
	return c
}

type apiKeyKey struct{}

// apiKeyFrom returns the API key the caller authenticated with, or nil for
// a user's access token.
func apiKeyFrom(ctx context.Context) *vibemon.APIKey {
	k, _ := ctx.Value(apiKeyKey{}).(*vibemon.APIKey)
	return k
}

// apiKeyTouchEvery is how stale a key's last_used_at may get: recording
// every use would be one write per request.
const apiKeyTouchEvery = time.Minute

// apiKey looks the bearer key up and records its use (at most once per
// apiKeyTouchEvery).
func (s *server) apiKey(ctx context.Context, key string) (*vibemon.APIKey, error) {
	return lookupAPIKey(ctx, s.store, s.now, s.log, key)
}

// authenticate requires a valid bearer access token or API key ("vmk_...")
// whose role may do act. An API key acts with its role in its org as no
// user (Claims.UserID 0); it may not acknowledge or resolve alerts.
func (s *server) authenticate(act vibemon.Action, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			s.writeError(w, r, vibemon.Errorf(vibemon.EUNAUTHORIZED, "Authorization: Bearer <access token> is required."))
			return
		} else if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			s.writeError(w, r, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The Authorization header must be \"Bearer <access token>\"."))
			return
		}
		token = strings.TrimSpace(token)
		ctx := r.Context()
		var c auth.Claims
		if vibemon.IsAPIKey(token) {
			k, err := s.apiKey(ctx, token)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if act == vibemon.ActAckAlerts {
				s.writeError(w, r, vibemon.Errorf(vibemon.EFORBIDDEN, "API keys may not acknowledge or resolve alerts: that needs a person."))
				return
			}
			c = auth.Claims{OrgID: k.OrgID, Role: k.Role} // UserID 0: no person
			ctx = context.WithValue(ctx, apiKeyKey{}, k)
		} else {
			var err error
			if c, err = s.issuer.Verify(token); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if !c.Role.Can(act) {
			s.writeError(w, r, vibemon.Errorf(vibemon.EFORBIDDEN, "The role %s may not do this.", c.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, claimsKey{}, c)))
	})
}
