package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Gateway. The zero value of each field means the
// default named; Central, Queue and Server are required.
type Config struct {
	// Central finds and connects to nodes.
	Central Central
	// Queue is the offline queue; the Gateway does not close it.
	Queue *Queue
	// Server is the VibeMon server's base URL, e.g. http://host:8080.
	Server string
	// Token is sent as "Authorization: Bearer <Token>" when TokenSource
	// is nil.
	Token string
	// TokenSource gives the token; nil means StaticToken(Token).
	TokenSource TokenSource
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client

	// ScanEvery is how often the gateway looks for nodes it is not
	// connected to. Defaults to 1 s.
	ScanEvery time.Duration
	// AckEvery is how often a session asks its node for a Status to check
	// completeness and acknowledge. Each acknowledgement makes the node
	// resend what it sent since the status (deduplicated in the queue), so
	// shorter means more radio traffic. Defaults to 10 s.
	AckEvery time.Duration
	// AckGrace is how long a status waits for notifications still in
	// flight before a shortfall is treated as a loss. Defaults to 500 ms.
	AckGrace time.Duration
	// BurstEvery asks each node for a raw burst this often, on the
	// gateway's clock (Now); 0 never. A device whose settings name
	// burst_every_s gets that instead (the server wins).
	BurstEvery time.Duration
	// BurstFrames is the burst length asked for, unless the device's
	// settings name burst_frames. Defaults to 4096.
	BurstFrames int
	// BurstCheck is how often (real time) a session looks whether a burst
	// is due. Defaults to 1 s.
	BurstCheck time.Duration
	// ManageEvery is how often a session fetches its node's desired
	// settings and target firmware (GET /devices/{id}/settings) and
	// applies them; also once on the node's first status. Defaults to 30 s.
	ManageEvery time.Duration
	// FirmwareDir keeps downloaded firmware images; defaults to a
	// "firmware" directory next to the queue file.
	FirmwareDir string
	// OTAStatusTimeout is how long the OTA relay waits for the node's OTA
	// status after a command before it asks again (OTAQuery; 3 times, then
	// the relay resumes in a later round). Defaults to 3 s.
	OTAStatusTimeout time.Duration

	// BatchSize is the first upload batch; it halves on 413 or a timeout
	// and doubles back on success up to MaxBatch. Defaults to 1,000.
	BatchSize int
	// MaxBatch defaults to 5,000, the server's limit.
	MaxBatch int
	// MinBackoff and MaxBackoff bound the exponential backoff (with full
	// jitter) after a failed upload. Default 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration

	// Now is the clock used to set the nodes' time; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil means none.
	Registerer prometheus.Registerer
	// Seed seeds the backoff jitter; 0 means a fixed default.
	Seed uint64
}

func (c *Config) defaults() error {
	if c.Central == nil {
		return errors.New("gateway: Config.Central is nil")
	}
	if c.Queue == nil {
		return errors.New("gateway: Config.Queue is nil")
	}
	if c.Server == "" || !(strings.HasPrefix(c.Server, "http://") || strings.HasPrefix(c.Server, "https://")) {
		return fmt.Errorf("gateway: Config.Server %q is not an http(s) URL", c.Server)
	}
	c.Server = strings.TrimSuffix(c.Server, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.TokenSource == nil {
		c.TokenSource = StaticToken(c.Token)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ScanEvery, time.Second)
	def(&c.AckEvery, 10*time.Second)
	def(&c.AckGrace, 500*time.Millisecond)
	def(&c.ManageEvery, 30*time.Second)
	def(&c.BurstCheck, time.Second)
	def(&c.OTAStatusTimeout, 3*time.Second)
	def(&c.MinBackoff, 250*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	if c.BurstFrames <= 0 {
		c.BurstFrames = 4096
	}
	if c.MaxBatch <= 0 || c.MaxBatch > 5000 {
		c.MaxBatch = 5000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	c.BatchSize = min(c.BatchSize, c.MaxBatch)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Seed == 0 {
		c.Seed = 0x9e3779b97f4a7c15
	}
	return nil
}

// Gateway connects to nodes, queues what they measure and uploads it.
type Gateway struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu       sync.Mutex
	sessions map[string]bool // addresses with a running session
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopped  bool
	nodes    map[string]*nodeTrack // settings delivered and OTA per serial; under mu
}

// New returns a Gateway; Start runs it.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, sessions: map[string]bool{}}
	g.m = newMetrics(cfg.Queue)
	if cfg.Registerer != nil {
		if err := g.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return g, nil
}

// Start runs the scanner, the sessions and the sync engine until ctx ends
// or Stop.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancel != nil || g.stopped {
		return errors.New("gateway: started twice")
	}
	ctx, g.cancel = context.WithCancel(ctx)
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.scanLoop(ctx) }()
	go func() { defer g.wg.Done(); g.syncLoop(ctx) }()
	return nil
}

// Stop disconnects every node, stops uploading and waits for the
// goroutines; what was received is in the queue. Safe twice.
func (g *Gateway) Stop() {
	g.mu.Lock()
	g.stopped = true
	cancel := g.cancel
	g.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
}

// Connected returns how many nodes have a session now.
func (g *Gateway) Connected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

func (g *Gateway) scanLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.ScanEvery)
	defer t.Stop()
	for {
		addrs, err := g.cfg.Central.Scan(ctx)
		if err != nil && ctx.Err() == nil {
			g.log.Warn("scan", "err", err)
		}
		for _, a := range addrs {
			g.mu.Lock()
			busy := g.sessions[a] || g.stopped
			if !busy {
				g.sessions[a] = true
				g.wg.Add(1)
			}
			g.mu.Unlock()
			if busy {
				continue
			}
			go func() {
				defer g.wg.Done()
				g.m.connected.Inc()
				err := g.session(ctx, a)
				g.m.connected.Dec()
				if err != nil && ctx.Err() == nil {
					g.log.Info("node session ended", "addr", a, "err", err)
				}
				g.mu.Lock()
				delete(g.sessions, a)
				g.mu.Unlock()
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
