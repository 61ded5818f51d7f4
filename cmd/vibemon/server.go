package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/httpapi"
	"github.com/vibemon/vibemon/ingest"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/lookup"
	"github.com/vibemon/vibemon/notify"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/redis"
	"github.com/vibemon/vibemon/report"
	"github.com/vibemon/vibemon/s3"
	"github.com/vibemon/vibemon/sqlite"
	"github.com/vibemon/vibemon/web"
	"github.com/vibemon/vibemon/ws"
)

// app is a running server: every component, wired.
type app struct {
	log      *slog.Logger
	store    vibemon.Store
	blobs    vibemon.BlobStore // firmware images' bytes, when VIBEMON_BLOB_URL is set
	bus      liveBus
	presence vibemon.Presence
	hub      *ws.Hub
	jobs     *jobs.Runner
	telegram *notify.TelegramLinker // nil unless VIBEMON_TELEGRAM_TOKEN is set (polling, or behind the webhook)
	issuer   *auth.Issuer
	http     *http.Server
	ln       net.Listener
	url      string
	admin    *admin
	done     chan struct{}

	// Set by openLive.
	sweep      func(ctx context.Context, now time.Time) ([]inproc.DeviceRef, error)
	loginLimit httpapi.RateLimiter             // nil: httpapi's in-memory default
	busPing    func(ctx context.Context) error // nil: the in-process bus, always up
	lookups    vibemon.LookupCache             // devices and API keys; shared through Redis when set
	cached     *vibemon.CachedStore            // store with lookups; what ingest, ws and the API use
	redis      io.Closer                       // the Redis client, when VIBEMON_REDIS_URL is set
	watch      *redis.Watch                    // which orgs have live telemetry clients, when VIBEMON_REDIS_URL is set
}

// openStore opens PostgreSQL when VIBEMON_DATABASE_URL is set, else the
// embedded SQLite store in the data dir.
func openStore(ctx context.Context, s *settings, log *slog.Logger) (vibemon.Store, error) {
	if s.DatabaseURL != "" {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		opts := postgres.Options{Logger: log, CompressAfter: s.CompressAfter, ContinuousAggregates: s.ContinuousAggregates}
		if s.TimescaleOff {
			opts.Timescale = postgres.TimescaleOff
		}
		if s.hasRole("worker") {
			// River's leader runs the EnsurePartitions job once per
			// cluster; processes without the worker role keep the
			// store's own hourly maintenance.
			opts.MaintenanceInterval = -1
			// Likewise the MergeRollups job merges rollup deltas.
			opts.MergeInterval = -1
		}
		store, err := postgres.Open(pctx, s.DatabaseURL, opts)
		if err != nil {
			return nil, fmt.Errorf("invalid setting VIBEMON_DATABASE_URL: cannot open PostgreSQL: %v", err)
		}
		return store, nil
	}
	store, err := sqlite.Open(filepath.Join(s.DataDir, "vibemon.db"), sqlite.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open the embedded store in %s: %w", s.DataDir, err)
	}
	return store, nil
}

// startApp opens the store, wires the components, starts listening and
// returns; the app serves until ctx is done, then shuts down (wait).
func startApp(ctx context.Context, s *settings, stdout, stderr io.Writer) (*app, error) {
	log := s.logger(stderr)
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("invalid setting --data-dir / VIBEMON_DATA_DIR: cannot create %s: %v", s.DataDir, err)
	}
	secret, err := loadSecret(s.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := openStore(ctx, s, log)
	if err != nil {
		return nil, err
	}
	a := &app{log: log, store: store, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	// Before the admin bootstrap, which prints a password only once.
	if err := a.openLive(ctx, s); err != nil {
		return nil, err
	}
	if a.admin, err = bootstrapAdmin(ctx, store, s, stdout); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if rb, isRedis := a.bus.(*redis.Bus); isRedis {
		reg.MustRegister(rb.Collectors()...)
	}
	if ps, isPostgres := store.(*postgres.Store); isPostgres {
		reg.MustRegister(ps.Collectors()...)
	}
	a.issuer = auth.NewIssuer(secret, time.Now, 0, 0)
	// Firmware images: their bytes in S3/MinIO when VIBEMON_BLOB_URL is
	// set, else in the database with the rest.
	var withImages vibemon.Store = store
	if s.Blob != nil {
		bctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		blobs, err := s3.Open(bctx, *s.Blob)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("invalid setting VIBEMON_BLOB_URL: cannot use the firmware storage: %v", err)
		}
		a.blobs = blobs
		withImages = vibemon.NewBlobFirmwareStore(store, blobs)
	}
	a.cached = vibemon.NewCachedStore(withImages, a.lookups)
	analytics := &analysis.Service{Store: store, Logger: log}
	ingestCfg := ingest.Config{
		Store: a.cached, Bus: a.bus, Presence: a.presence, Logger: log, Devices: a.lookups,
		Alerts: alerting.NewEngine(alerting.Config{Store: store, Logger: log, Levels: isoLevels(analytics)}),
	}
	var live, panel http.Handler
	if s.hasRole("ws") {
		a.hub = ws.NewHub(ws.Config{
			Bus: a.bus, Presence: a.presence, Logger: log, Registerer: reg,
			Verify: func(token string) (int64, int64, error) {
				c, err := a.issuer.Verify(token)
				return c.OrgID, c.UserID, err
			},
			VerifyKey: httpapi.VerifyAPIKey(a.cached, time.Now, log), // API keys, as on the HTTP API (cached, forgotten on revoke)
			Devices: func(ctx context.Context, orgID, deviceID int64) (int64, error) {
				d, err := a.cached.Device(ctx, orgID, deviceID)
				if err != nil {
					return 0, err
				}
				return d.AssetID, nil
			},
			Assets: func(ctx context.Context, orgID, assetID int64) error {
				_, err := store.GetAsset(ctx, orgID, assetID)
				return err
			},
			Watch: a.markWatched,
		})
		if err := a.hub.Start(ctx); err != nil {
			return nil, fmt.Errorf("start websocket hub: %w", err)
		}
		live = a.hub.Handler()
	}
	// Live reading events are encoded only for orgs someone watches: with
	// an in-process bus, clients of this process's hub (none without the ws
	// role); through Redis, clients of any replica (redis.Watch, marked by
	// the WebSocket replicas).
	switch _, inProcess := a.bus.(*inproc.Bus); {
	case inProcess && a.hub != nil:
		ingestCfg.LiveWanted = a.hub.Watching
	case inProcess:
		ingestCfg.LiveWanted = func(int64) bool { return false }
	case a.watch != nil:
		ingestCfg.LiveWanted = a.watch.Wanted
	}
	telemetry := ingest.New(ingestCfg)
	if s.hasRole("web") {
		panel = web.Handler(web.Config{Logger: log})
	}
	// Analytics: River jobs in their own SQLite file, or in the shared
	// PostgreSQL database (one queue per cluster; periodic jobs on River's
	// leader); only the worker role works them, every role may enqueue.
	jcfg := jobs.Config{
		Path: filepath.Join(s.DataDir, "jobs.db"), Store: store, Analysis: analytics, Orgs: store, Bus: a.bus,
		Logger: log, InsertOnly: !s.hasRole("worker"),
		Notify: &jobs.NotifyConfig{Channels: s.Notify.channels, PublicURL: s.Notify.PublicURL},
	}
	if pruner, ok := store.(vibemon.ReadingPruner); ok {
		jcfg.Retention = pruner // per-org retention_days (docs/postgres.md, "Retention")
	}
	where := s.DataDir
	if pg, isPG := store.(*postgres.Store); isPG {
		jcfg.Path, jcfg.PGPool, jcfg.Partitions, jcfg.Rollups, where = "", pg.Pool(), pg, pg, "PostgreSQL"
	}
	a.jobs, err = jobs.New(jcfg)
	if err != nil {
		return nil, fmt.Errorf("open the job queue in %s: %w", where, err)
	}
	if err := a.jobs.Start(ctx); err != nil {
		return nil, err
	}
	notifications := httpapi.Notifications{Channels: s.Notify.channels.Names()}
	if s.Notify.TelegramToken != "" {
		links := &telegramLinks{store: store, bot: s.Notify.TelegramBot, now: time.Now}
		notifications.TelegramLink = links.NewLinkCode
		switch {
		case s.Notify.TelegramWebhookSecret != "":
			// Telegram POSTs updates to any replica's API; nobody polls.
			if a.telegram, notifications.TelegramWebhook, err = telegramWebhook(s.Notify, store, log); err != nil {
				return nil, err
			}
		case s.hasRole("worker"):
			// Telegram serves getUpdates to one poller at a time: run the
			// worker role on one replica, or use the webhook
			// (VIBEMON_TELEGRAM_WEBHOOK_SECRET, docs/notifications.md).
			if a.telegram, err = startTelegramLinker(ctx, s.Notify, store, log); err != nil {
				return nil, err
			}
		}
	}
	reports := &report.Builder{Store: store, Analysis: analytics}
	handler := httpapi.NewServer(httpapi.Config{
		Store: a.cached, Telemetry: telemetry, Issuer: a.issuer, Presence: a.presence, Bus: a.bus,
		Logger: log, Registerer: reg, Gatherer: reg, Live: live, Web: panel, LoginRateLimit: a.loginLimit,
		Waveforms: a.jobs, Ready: a.ready(s), Notifications: notifications,
		Health: httpapi.HealthFunc(func(ctx context.Context, orgID, assetID int64) (any, error) {
			return analytics.AssetHealth(ctx, orgID, assetID)
		}),
		Reports: httpapi.ConditionReportFunc(func(ctx context.Context, orgID int64, from, to time.Time) (httpapi.CSVWriter, error) {
			r, err := reports.Build(ctx, orgID, from, to)
			if err != nil {
				return nil, err // not a nil *report.Report in an interface
			}
			return r, nil
		}),
	})

	a.ln, err = net.Listen("tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("invalid setting --addr / VIBEMON_ADDR: cannot listen on %s: %v (is another server using the port? pick another, e.g. --addr :8081)", s.Addr, err)
	}
	a.url = displayURL(a.ln.Addr().(*net.TCPAddr))
	a.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	go a.sweepPresence(ctx)
	if a.hub != nil && a.watch != nil {
		go a.renewWatched(ctx)
	}
	go func() {
		<-ctx.Done()
		a.close()
		close(a.done)
	}()
	ok = true
	fmt.Fprintf(stdout, "VibeMon is running at %s\n", a.url)
	return a, nil
}

// ready returns GET /readyz's check: the backends this process's roles
// need are up (api and worker: the store; api: the firmware storage, when
// set; ws: the live bus; worker: River's client started and running).
func (a *app) ready(s *settings) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if s.hasRole("api") || s.hasRole("worker") {
			if err := a.store.Ping(ctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		if s.hasRole("api") && a.blobs != nil {
			if err := a.blobs.Ping(ctx); err != nil {
				return fmt.Errorf("firmware storage: %w", err)
			}
		}
		if s.hasRole("ws") && a.busPing != nil {
			if err := a.busPing(ctx); err != nil {
				return fmt.Errorf("live bus: %w", err)
			}
		}
		if s.hasRole("worker") {
			if err := a.jobs.Ready(ctx); err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
		}
		return nil
	}
}

// wait blocks until the app has shut down after its context ended.
func (a *app) wait() { <-a.done }

// close stops accepting requests, lets running ones finish for up to 10 s,
// then stops the hub and closes the store, which flushes pending writes.
func (a *app) close() {
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.http.Shutdown(ctx); err != nil {
			a.log.Warn("http shutdown", "err", err)
		}
		cancel()
	}
	if a.hub != nil {
		a.hub.Stop()
	}
	if a.telegram != nil {
		a.telegram.Stop()
	}
	if a.jobs != nil {
		a.jobs.Stop()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("close store", "err", err)
		}
	}
}

// markWatched marks the org of a new telemetry client as watched, so that
// every replica streams its readings (a no-op with the in-process bus).
func (a *app) markWatched(ctx context.Context, orgID int64) error {
	if a.watch == nil {
		return nil
	}
	return a.watch.Mark(ctx, orgID)
}

// renewWatched renews, every third of the marks' lifetime, the marks of
// the orgs this replica's telemetry clients watch.
func (a *app) renewWatched(ctx context.Context) {
	t := time.NewTicker(a.watch.TTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.watch.Mark(ctx, a.hub.WatchedOrgs()...); err != nil && ctx.Err() == nil {
				a.log.Warn("renew watched orgs; other replicas may stop streaming their readings", "err", err)
			}
		}
	}
}

// sweepPresence publishes "offline" for devices whose readings stopped.
func (a *app) sweepPresence(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var events []vibemon.Event
			gone, err := a.sweep(ctx, now)
			if err != nil {
				a.log.Warn("sweep presence", "err", err)
			}
			for _, d := range gone {
				// Asset subscribers filter by asset: look it up.
				var assetID int64
				if dev, err := a.cached.Device(ctx, d.OrgID, d.DeviceID); err == nil {
					assetID = dev.AssetID
				}
				events = append(events, vibemon.Event{Type: vibemon.EventPresence, OrgID: d.OrgID, DeviceID: d.DeviceID, AssetID: assetID, Data: []byte(`{"online":false}`)})
			}
			if len(events) > 0 {
				if err := a.bus.Publish(ctx, events...); err != nil {
					a.log.Warn("publish presence", "err", err)
				}
			}
		}
	}
}

func displayURL(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Run the VibeMon server.", stdout)
	finish := bindServerFlags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := finish()
	if err != nil {
		return err
	}
	a, err := startApp(ctx, s, stdout, stderr)
	if err != nil {
		return err
	}
	a.wait()
	return nil
}

// liveBus is inproc.Bus or redis.Bus.
type liveBus interface {
	vibemon.Bus
	Close() error
}

// openLive sets up the live bus, presence and login limiter: in-process, or
// shared by every replica through Redis when VIBEMON_REDIS_URL is set, in
// which case an unreachable Redis stops the start.
func (a *app) openLive(ctx context.Context, s *settings) error {
	if s.RedisURL == "" {
		a.bus = inproc.NewBus(inproc.BusConfig{Logger: a.log})
		a.lookups = lookup.New(lookup.Config{})
		p := inproc.NewPresence(inproc.PresenceConfig{})
		a.presence = p
		a.sweep = func(_ context.Context, now time.Time) ([]inproc.DeviceRef, error) { return p.Sweep(now), nil }
		return nil
	}
	redis.RouteLogs(a.log)
	client, err := redis.Connect(ctx, s.RedisURL)
	if err != nil {
		return fmt.Errorf("invalid setting VIBEMON_REDIS_URL: cannot reach Redis: %v", err)
	}
	a.redis = client
	a.busPing = func(ctx context.Context) error { return client.Ping(ctx).Err() }
	bus, err := redis.NewBus(redis.BusConfig{Client: client, Prefix: s.RedisPrefix, Logger: a.log})
	if err != nil {
		return err
	}
	a.bus = bus
	p, err := redis.NewPresence(redis.PresenceConfig{Client: client, Prefix: s.RedisPrefix})
	if err != nil {
		return err
	}
	a.presence = p
	if a.watch, err = redis.NewWatch(redis.WatchConfig{Client: client, Prefix: s.RedisPrefix}); err != nil {
		return err
	}
	a.sweep = func(ctx context.Context, now time.Time) ([]inproc.DeviceRef, error) {
		refs, err := p.Sweep(ctx, now)
		gone := make([]inproc.DeviceRef, len(refs))
		for i, r := range refs {
			gone[i] = inproc.DeviceRef{OrgID: r.OrgID, DeviceID: r.DeviceID}
		}
		return gone, err
	}
	if a.loginLimit, err = redis.NewLimiter(redis.LimiterConfig{Client: client, Prefix: s.RedisPrefix, Name: "login"}); err != nil {
		return err
	}
	if a.lookups, err = redis.NewLookups(redis.LookupsConfig{Client: client, Bus: bus, Prefix: s.RedisPrefix, Logger: a.log}); err != nil {
		return err
	}
	a.log.Info("live bus, presence, login limit and lookup cache shared through Redis", "channel", bus.Channel())
	return nil
}
