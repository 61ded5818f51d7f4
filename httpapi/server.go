package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

// Telemetry ingests a batch of readings for an org: it validates each
// reading, checks that its device is the org's, stores the new ones durably,
// evaluates alert rules and publishes live events. Rejection indexes refer
// to rs. An error means nothing can be said about the batch (the store is
// down); per-reading problems are rejections.
type Telemetry interface {
	Ingest(ctx context.Context, orgID int64, rs []vibemon.Reading) (vibemon.IngestResult, error)
}

// Config holds the server's dependencies and limits. A zero field means the
// documented default; Store, Telemetry and Issuer are required.
type Config struct {
	Store     vibemon.Store
	Telemetry Telemetry
	Issuer    *auth.Issuer
	// Presence tells which devices are online; nil means none is.
	Presence vibemon.Presence
	// Bus, when set, receives an alert event when a user acknowledges or
	// resolves an alert through the API, so live clients see it.
	Bus vibemon.Bus
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Registerer receives the server's metrics; Gatherer serves /metrics.
	// When both are nil a new registry serves as both; when only
	// Registerer is set and it is also a Gatherer (a *prometheus.Registry)
	// it serves /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Live is mounted at /ws/ and Web at / when set.
	Live http.Handler
	Web  http.Handler
	// MaxBodyBytes limits a request body, after gzip decompression.
	// Defaults to 8 MiB.
	MaxBodyBytes int64
	// MaxBatch limits the readings of one POST /telemetry. Defaults to 5000.
	MaxBatch int
	// LoginRateLimit limits POST /auth/login per client IP and e-mail.
	// Defaults to an in-memory limiter of 10 attempts per minute.
	LoginRateLimit RateLimiter
	// PasswordParams are the argon2id costs of new password hashes.
	// Defaults to auth.DefaultParams.
	PasswordParams auth.Params
	// Ready reports whether the server can serve (GET /readyz). Defaults
	// to pinging Store.
	Ready func(ctx context.Context) error
	// Waveforms stores posted bursts and queues their analysis; nil makes
	// POST /devices/{id}/waveforms answer 503.
	Waveforms WaveformSubmitter
	// Health answers GET /assets/{id}/health; nil makes it answer 503.
	Health HealthReporter
	// Reports answers GET /reports/condition; nil makes it answer 503.
	Reports ConditionReporter
	// Notifications says which notification channels the server has and
	// issues Telegram link codes. Defaults to none.
	Notifications Notifications
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 8 << 20
	DefaultMaxBatch     = 5000
)

// server is what the handlers share.
type server struct {
	store         vibemon.Store
	telemetry     Telemetry
	issuer        *auth.Issuer
	presence      vibemon.Presence
	bus           vibemon.Bus
	log           *slog.Logger
	now           func() time.Time
	maxBody       int64
	maxBatch      int
	limiter       RateLimiter
	pwParams      auth.Params
	ready         func(ctx context.Context) error
	waveforms     WaveformSubmitter
	health        HealthReporter
	reports       ConditionReporter
	notifications Notifications
	gatherer      prometheus.Gatherer
	metrics       *metrics

	dummyOnce sync.Once
	dummyHash string // hashed when an e-mail is unknown, so timing does not tell
}

func newServer(cfg Config) *server {
	s := &server{
		store: cfg.Store, telemetry: cfg.Telemetry, issuer: cfg.Issuer, presence: cfg.Presence, bus: cfg.Bus,
		log: cfg.Logger, now: cfg.Now, maxBody: cfg.MaxBodyBytes, maxBatch: cfg.MaxBatch,
		limiter: cfg.LoginRateLimit, pwParams: cfg.PasswordParams, ready: cfg.Ready,
		waveforms: cfg.Waveforms, health: cfg.Health, reports: cfg.Reports, notifications: cfg.Notifications,
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxBatch <= 0 {
		s.maxBatch = DefaultMaxBatch
	}
	if s.limiter == nil {
		s.limiter = NewMemoryLimiter(10, time.Minute, s.now)
	}
	if s.ready == nil {
		s.ready = func(ctx context.Context) error { return s.store.Ping(ctx) }
	}
	reg, gat := cfg.Registerer, cfg.Gatherer
	if reg == nil && gat == nil {
		r := prometheus.NewRegistry()
		reg, gat = r, r
	} else if gat == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gat = g
		} else {
			gat = prometheus.DefaultGatherer
		}
	} else if reg == nil {
		reg = prometheus.NewRegistry() // metrics are collected but served by nobody
	}
	s.gatherer = gat
	s.metrics = newMetrics(reg)
	return s
}

// NewServer returns the HTTP handler of the whole API. It panics when
// Store, Telemetry or Issuer is nil, which is a wiring bug.
func NewServer(cfg Config) http.Handler {
	if cfg.Store == nil || cfg.Telemetry == nil || cfg.Issuer == nil {
		panic("httpapi.NewServer: Store, Telemetry and Issuer are required")
	}
	s := newServer(cfg)
	mux := http.NewServeMux()
	addRoutes(mux, s, cfg.Live, cfg.Web)
	var h http.Handler = mux
	h = s.recoverPanics(h)
	h = s.instrument(h)
	h = s.logRequests(h)
	return h
}
