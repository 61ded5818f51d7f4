package ws

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vibemon/vibemon"
)

// Config configures a Hub. Bus, Verify and Devices are required; every other
// zero field means its documented default.
type Config struct {
	// Bus carries the events to stream. The hub holds one subscription.
	Bus vibemon.Bus
	// Verify checks an access token and returns its org and user. Any error
	// refuses the connection; an *vibemon.Error's message is shown.
	Verify func(token string) (orgID, userID int64, err error)
	// VerifyKey checks an API key ("vmk_...", vibemon.IsAPIKey) and returns
	// its org and id when the key may read (any error refuses the
	// connection; an *vibemon.Error's message is shown). Nil: API keys are
	// refused.
	VerifyKey func(ctx context.Context, key string) (orgID, keyID int64, err error)
	// Presence answers the snapshot of online devices sent after each
	// subscribe. Defaults to none: snapshots are empty.
	Presence vibemon.Presence
	// Devices returns the asset of a device of the org, or an ENOTFOUND
	// error when the device is not the org's. It validates device
	// subscriptions and filters presence snapshots of asset subscriptions.
	Devices func(ctx context.Context, orgID, deviceID int64) (assetID int64, err error)
	// Assets returns an ENOTFOUND error when the asset is not the org's.
	// Defaults to accepting any asset id: events are still only those of
	// the caller's org.
	Assets func(ctx context.Context, orgID, assetID int64) error
	// Watch, when set, is called with a telemetry client's org once its
	// token is verified and before it is told it is ready: a cluster marks
	// the org as watched (redis.Watch), so that the replicas taking
	// readings stream the org's readings from then on. An error is logged
	// and the client served all the same.
	Watch func(ctx context.Context, orgID int64) error
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Registerer receives the hub's metrics when Start runs. Defaults to
	// none.
	Registerer prometheus.Registerer
	// QueueSize is how many messages may wait for one client before it is
	// disconnected as a slow consumer. Defaults to 2048: one ingest
	// transaction publishes the readings of many coalesced POSTs at once
	// (thousands), and a client subscribed to their devices receives them
	// as one burst that no socket drains as fast. Messages are encoded once
	// and shared by every client, so a waiting message costs a client 24
	// bytes (a slice header): 48 KiB at most, and nothing when idle.
	QueueSize int
	// WriteTimeout bounds each write to a client. Defaults to 5 s.
	WriteTimeout time.Duration
	// PingInterval is how often idle clients are pinged; a client that does
	// not answer within WriteTimeout is dropped. Defaults to 25 s.
	PingInterval time.Duration
	// AuthTimeout is how long a client without ?token= has to send its auth
	// message. Defaults to 10 s.
	AuthTimeout time.Duration
	// MaxMessageBytes limits a client message. Defaults to 4 KiB.
	MaxMessageBytes int64
	// OriginPatterns are the extra hosts (path.Match patterns) whose pages
	// may connect; same-host pages always may. Defaults to none.
	OriginPatterns []string
	// ShutdownTimeout bounds how long Stop waits for close handshakes
	// before dropping the remaining connections. Defaults to 5 s.
	ShutdownTimeout time.Duration
	// MaxSubscriptions limits one client's subscriptions. Defaults to 1000.
	MaxSubscriptions int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 2048
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 4 << 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 1000
	}
}

func (c *Config) validate() error {
	switch {
	case c.Bus == nil:
		return errors.New("ws: Config.Bus is required")
	case c.Verify == nil:
		return errors.New("ws: Config.Verify is required")
	case c.Devices == nil:
		return errors.New("ws: Config.Devices is required")
	}
	return nil
}

// endpoint is one of the two streams.
type endpoint uint8

const (
	endpointTelemetry endpoint = iota + 1
	endpointAlerts
)

func (e endpoint) String() string {
	if e == endpointAlerts {
		return "alerts"
	}
	return "telemetry"
}

// indexKey selects the clients that may receive an event.
type indexKey struct {
	orgID int64
	ep    endpoint
}

// Hub streams bus events to WebSocket clients. Create it with NewHub, call
// Start, serve Handler, and call Stop to close every client.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics

	mu        sync.Mutex
	state     int // hubNew, hubRunning, hubStopped
	cancelSub func()
	clients   map[*client]struct{} // every connection, authenticated or not
	wg        sync.WaitGroup       // one per connection
	quit      chan struct{}        // closed when Stop begins
	stopOnce  sync.Once

	// force is cancelled to drop connections that did not finish their
	// close handshake in time.
	force       context.Context
	forceCancel context.CancelFunc

	// index holds, per org and endpoint, an immutable slice of the
	// authenticated clients; writers copy it, so fan-out reads it without
	// holding a lock.
	indexMu sync.RWMutex
	index   map[indexKey][]*client
}

const (
	hubNew = iota
	hubRunning
	hubStopped
)

// NewHub returns a hub that serves nothing until Start.
func NewHub(cfg Config) *Hub {
	cfg.setDefaults()
	force, forceCancel := context.WithCancel(context.Background())
	return &Hub{
		cfg:         cfg,
		log:         cfg.Logger,
		metrics:     newMetrics(),
		clients:     make(map[*client]struct{}),
		quit:        make(chan struct{}),
		force:       force,
		forceCancel: forceCancel,
		index:       make(map[indexKey][]*client),
	}
}

// Start validates the configuration, registers the metrics and subscribes to
// the bus. The hub stops when ctx is done or Stop is called. Start fails when
// called twice.
func (h *Hub) Start(ctx context.Context) error {
	if err := h.cfg.validate(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != hubNew {
		return errors.New("ws: start hub: already started")
	}
	if r := h.cfg.Registerer; r != nil {
		for _, c := range h.metrics.collectors() {
			if err := r.Register(c); err != nil {
				return fmt.Errorf("ws: start hub: register metrics: %w", err)
			}
		}
	}
	h.cancelSub = h.cfg.Bus.Subscribe(h.dispatch)
	h.state = hubRunning
	go func() {
		select {
		case <-ctx.Done():
			h.Stop()
		case <-h.quit:
		}
	}()
	return nil
}

// Stop unsubscribes from the bus, closes every client with code 1001 (going
// away) and waits for their goroutines. Connections that have not finished
// the close handshake within ShutdownTimeout are dropped. Stop is safe to
// call twice; a second call returns when the first is done.
func (h *Hub) Stop() {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.state = hubStopped
		close(h.quit)
		cancelSub := h.cancelSub
		clients := make([]*client, 0, len(h.clients))
		for c := range h.clients {
			clients = append(clients, c)
		}
		h.mu.Unlock()

		if cancelSub != nil {
			cancelSub()
		}
		for _, c := range clients {
			c.closeWith(websocket.StatusGoingAway, "server shutting down", nil)
		}
		done := make(chan struct{})
		go func() {
			h.wg.Wait()
			close(done)
		}()
		timer := time.NewTimer(h.cfg.ShutdownTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			h.log.Warn("ws: dropping connections that did not close in time", "timeout", h.cfg.ShutdownTimeout)
		}
		h.forceCancel()
		<-done
	})
}

// Handler serves both streams; it matches the path suffix /telemetry or
// /alerts, so it may be mounted under any prefix.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(h.serveHTTP)
}

func (h *Hub) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var ep endpoint
	switch {
	case strings.HasSuffix(r.URL.Path, "/telemetry"):
		ep = endpointTelemetry
	case strings.HasSuffix(r.URL.Path, "/alerts"):
		ep = endpointAlerts
	default:
		writeHTTPError(w, http.StatusNotFound, vibemon.ENOTFOUND, "No such stream; use /ws/telemetry or /ws/alerts.")
		return
	}
	c := &client{
		hub:     h,
		ep:      ep,
		closing: make(chan struct{}),
	}
	if !h.track(c) {
		writeHTTPError(w, http.StatusServiceUnavailable, vibemon.EUNAVAILABLE, "The live stream is not running; retry later.")
		return
	}
	defer h.untrack(c)

	hw := &hijackWriter{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		// Accept has written the HTTP error.
		h.log.Debug("ws: accept", "err", err)
		return
	}
	conn.SetReadLimit(h.cfg.MaxMessageBytes)
	c.conn = conn
	c.ctx, c.cancel = context.WithCancel(h.force)
	defer c.cancel()
	// A dropped client's socket is closed underneath the library: coder's
	// Close waits up to 5 s for the peer's close frame and cannot be
	// interrupted once started, so cancelling c.ctx alone would not bound
	// Stop when a client never answers.
	if hw.conn != nil {
		stop := context.AfterFunc(c.ctx, func() { hw.conn.Close() })
		defer stop()
	}
	c.serve(r.URL.Query().Get("token"))
}

// hijackWriter records the connection websocket.Accept hijacks.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.conn = conn
	return conn, brw, err
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// track counts a new connection, unless the hub is not running.
func (h *Hub) track(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != hubRunning {
		return false
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.metrics.clients.Inc()
	return true
}

func (h *Hub) untrack(c *client) {
	h.unregister(c)
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.metrics.clients.Dec()
	h.wg.Done()
}

// registerReady queues ready for c and makes it eligible for its org's
// events in one step under the index lock: ready goes first in the queue,
// so it precedes every event, and every event published after the client
// could have seen ready finds it in the index (dispatch reads the index
// under the same lock). Registering after queuing ready, as before, left a
// moment in which an event published by someone who had seen the client
// go live was not delivered to it.
func (h *Hub) registerReady(c *client) {
	k := indexKey{c.orgID, c.ep}
	h.indexMu.Lock()
	defer h.indexMu.Unlock()
	c.send(readyMessage)
	h.index[k] = append(slices.Clip(h.index[k]), c)
}

func (h *Hub) unregister(c *client) {
	k := indexKey{c.orgID, c.ep}
	h.indexMu.Lock()
	defer h.indexMu.Unlock()
	old := h.index[k]
	i := slices.Index(old, c)
	if i < 0 {
		return
	}
	if len(old) == 1 {
		delete(h.index, k)
		return
	}
	h.index[k] = slices.Delete(slices.Clone(old), i, i+1)
}

// Watching reports whether a client of the org is connected to this hub's
// telemetry stream now. A process whose bus is in-process uses it to skip
// encoding live readings that nobody would receive.
func (h *Hub) Watching(orgID int64) bool {
	h.indexMu.RLock()
	defer h.indexMu.RUnlock()
	return len(h.index[indexKey{orgID, endpointTelemetry}]) > 0
}

// WatchedOrgs returns the orgs with a client on this hub's telemetry
// stream now (in no order), for a cluster to renew their marks.
func (h *Hub) WatchedOrgs() []int64 {
	h.indexMu.RLock()
	defer h.indexMu.RUnlock()
	var out []int64
	for k, cs := range h.index {
		if k.ep == endpointTelemetry && len(cs) > 0 {
			out = append(out, k.orgID)
		}
	}
	return out
}

// dispatch fans one bus event out to the matching clients of its org. It
// runs on the bus's delivery goroutine and never blocks: it encodes the
// event once and offers the same bytes to each client's queue.
func (h *Hub) dispatch(ev vibemon.Event) {
	var ep endpoint
	switch ev.Type {
	case vibemon.EventReading, vibemon.EventPresence:
		ep = endpointTelemetry
	case vibemon.EventAlert:
		ep = endpointAlerts
	default:
		return
	}
	h.indexMu.RLock()
	clients := h.index[indexKey{ev.OrgID, ep}]
	h.indexMu.RUnlock()

	var msg []byte
	for _, c := range clients {
		if !c.wants(ev) {
			continue
		}
		if msg == nil {
			if len(ev.Data) > 0 && !json.Valid(ev.Data) {
				h.log.Error("ws: dropping event with invalid JSON data", "type", ev.Type, "org_id", ev.OrgID, "device_id", ev.DeviceID)
				return
			}
			msg = appendEvent(make([]byte, 0, len(ev.Data)+80), ev)
		}
		c.send(msg)
	}
}

func writeHTTPError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// metrics are the hub's Prometheus collectors.
type metrics struct {
	clients prometheus.Gauge
	sent    prometheus.Counter
	slow    prometheus.Counter
	dropped prometheus.Counter
}

func newMetrics() metrics {
	return metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vibemon_ws_clients", Help: "WebSocket connections open now.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_ws_messages_sent_total", Help: "Messages written to WebSocket clients.",
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_ws_slow_disconnects_total", Help: "WebSocket clients disconnected because their queue was full.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vibemon_ws_dropped_messages_total", Help: "Messages not delivered because a client's queue was full or it was closing.",
		}),
	}
}

func (m metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.clients, m.sent, m.slow, m.dropped}
}
