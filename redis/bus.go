package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/fanout"
)

// BusConfig configures a Bus. Client is required; the zero value of every
// other field means its documented default.
type BusConfig struct {
	// Client is the Redis client to publish with; the bus opens one more
	// connection from it for its subscription.
	Client *goredis.Client
	// Prefix starts the channel name ("<prefix>bus"). Buses with the same
	// Prefix on the same Redis are one bus. Defaults to DefaultPrefix.
	Prefix string
	// BufferSize is how many events may wait for one local subscriber
	// before new events for it are dropped (and counted). Defaults to 65536.
	BufferSize int
	// MaxBatch is the most events one Redis message carries; a Publish call
	// with more is sent as several messages in one pipeline. Defaults to
	// 1000.
	MaxBatch int
	// PublishTimeout bounds one Publish call, so that ingest is not held up
	// when Redis is slow or gone. Defaults to one second.
	PublishTimeout time.Duration
	// RetryAfter is how long Publish fails at once, without asking Redis,
	// after a Publish failed: while Redis is down, ingest loses no time
	// per batch. Defaults to one second.
	RetryAfter time.Duration
	// SubscribeWait is how long the first Subscribe waits for the Redis
	// subscription to be confirmed before returning anyway (the bus keeps
	// trying in the background). Defaults to five seconds.
	SubscribeWait time.Duration
	// HealthInterval is how long the subscription may be silent before the
	// bus pings Redis over it; a ping unanswered for as long again means the
	// connection is dead and the bus reconnects. Defaults to 10 s.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection tries,
	// which doubles after each failed try. Default to 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives warnings about lost subscriptions and dropped events.
	// Defaults to discarding.
	Logger *slog.Logger
}

// Bus is a vibemon.Bus across processes through Redis pub/sub. Each Publish
// call is one PUBLISH (or one pipeline of them, for calls larger than
// MaxBatch) on the channel "<prefix>bus". Each Bus holds one subscription to
// that channel, opened by the first Subscribe, and fans the events out to
// its local subscribers, each with its own bounded buffer and goroutine, so
// Publish never waits for a subscriber and each subscriber receives events
// in publish order. When the subscription breaks, the bus reconnects with
// backoff by itself; events published meanwhile are lost to this process's
// subscribers (live delivery is best effort). The zero value is not usable:
// call NewBus.
type Bus struct {
	cfg     BusConfig
	client  *goredis.Client
	channel string
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex
	subs   map[*fanout.Subscriber]struct{}
	closed bool

	startOnce sync.Once
	ready     chan struct{} // closed once the first subscription is confirmed
	readyOnce sync.Once
	recvDone  chan struct{}

	psMu sync.Mutex
	ps   *goredis.PubSub

	writerOnce sync.Once
	pubq       chan *pubReq

	downUntil     atomic.Int64 // unix ns before which Publish fails at once
	published     atomic.Int64
	publishErrors atomic.Int64
	received      atomic.Int64
	dropped       atomic.Int64
	reconnects    atomic.Int64
	corrupt       atomic.Int64
	pipelines     atomic.Int64
}

var _ vibemon.Bus = (*Bus)(nil)

// NewBus returns a bus on cfg.Client. It does not talk to Redis yet.
func NewBus(cfg BusConfig) (*Bus, error) {
	if cfg.Client == nil {
		return nil, errors.New("new redis bus: BusConfig.Client is required")
	}
	cfg.Prefix = prefixOr(cfg.Prefix)
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 65536
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.SubscribeWait <= 0 {
		cfg.SubscribeWait = 5 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{
		cfg: cfg, client: cfg.Client, channel: cfg.Prefix + "bus", log: cfg.Logger,
		ctx: ctx, cancel: cancel,
		subs:  make(map[*fanout.Subscriber]struct{}),
		ready: make(chan struct{}),
		pubq:  make(chan *pubReq, 1024),
	}, nil
}

// Channel returns the Redis channel the bus publishes on.
func (b *Bus) Channel() string { return b.channel }

// Publish sends events to every subscriber of every Bus on the same channel,
// as one Redis message per MaxBatch events, and returns once Redis has
// accepted them. It returns an error when ctx is done, the bus is closed
// (code EUNAVAILABLE), Redis did not accept the events within
// PublishTimeout, or another call failed so within the last RetryAfter
// (code EUNAVAILABLE, without asking Redis); callers log it and go on.
func (b *Bus) Publish(ctx context.Context, events ...vibemon.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return fmt.Errorf("publish events: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "The bus is closed."))
	}
	if len(events) == 0 {
		return nil
	}
	if now := time.Now().UnixNano(); now < b.downUntil.Load() {
		b.publishErrors.Add(1)
		return fmt.Errorf("publish events: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "Redis failed a moment ago; retrying in %v.", time.Duration(b.downUntil.Load()-now).Round(time.Millisecond)))
	}
	// A copy: a caller that gives up waiting may reuse its slice.
	req := &pubReq{events: slices.Clone(events), done: make(chan error, 1)}
	b.writerOnce.Do(func() { go b.write() })
	timer := time.NewTimer(b.cfg.PublishTimeout)
	defer timer.Stop()
	select {
	case b.pubq <- req:
	case <-ctx.Done():
		return fmt.Errorf("publish events: %w", ctx.Err())
	case <-b.ctx.Done():
		return fmt.Errorf("publish events: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "The bus is closed."))
	case <-timer.C:
		b.publishErrors.Add(1)
		return fmt.Errorf("publish %d events to redis: %w", len(events), vibemon.Errorf(vibemon.EUNAVAILABLE, "Redis did not take the events within %v.", b.cfg.PublishTimeout))
	}
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		return fmt.Errorf("publish events: %w", ctx.Err()) // the writer still sends them
	case <-b.ctx.Done():
		return fmt.Errorf("publish events: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "The bus is closed."))
	}
	if err != nil {
		b.publishErrors.Add(1)
		return fmt.Errorf("publish %d events to redis: %w", len(events), err)
	}
	b.published.Add(int64(len(events)))
	return nil
}

// pubReq is one Publish call's events, waiting for the writer.
type pubReq struct {
	events []vibemon.Event
	done   chan error
}

// maxCoalesce bounds the events of one round trip.
const maxCoalesce = 20000

// write sends queued Publish calls until the bus is closed: the events of
// whatever calls are waiting are encoded together into messages of up to
// MaxBatch events and sent in one round trip (one PUBLISH, or a pipeline).
// So concurrent publishers (several ingest requests at once) share round
// trips and messages: fewer PUBLISHes for Redis and fewer messages for
// every subscriber to receive. A single publisher still waits one round
// trip per call. The events keep the order of the calls' arrival, and a
// caller's next call starts after this one returned, so each publisher's
// order holds.
func (b *Bus) write() {
	var reqs []*pubReq
	var buf []byte
	var ends []int
	var all []vibemon.Event
	for {
		reqs = reqs[:0]
		select {
		case <-b.ctx.Done():
			return
		case r := <-b.pubq:
			reqs = append(reqs, r)
		}
		n := len(reqs[0].events)
	drain:
		for n < maxCoalesce {
			select {
			case r := <-b.pubq:
				reqs = append(reqs, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		all = all[:0]
		for _, r := range reqs {
			all = append(all, r.events...)
		}
		buf, ends = buf[:0], ends[:0]
		for i := 0; i < len(all); i += b.cfg.MaxBatch {
			buf = appendEvents(buf, all[i:min(i+b.cfg.MaxBatch, len(all))])
			ends = append(ends, len(buf))
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.PublishTimeout)
		var err error
		if len(ends) == 1 {
			err = b.client.Publish(ctx, b.channel, buf).Err()
		} else {
			pipe := b.client.Pipeline()
			start := 0
			for _, end := range ends {
				pipe.Publish(ctx, b.channel, buf[start:end])
				start = end
			}
			_, err = pipe.Exec(ctx)
		}
		cancel()
		if cap(buf) > 4<<20 {
			buf = nil // do not keep the buffer of a huge round
		}
		clear(all)
		if err != nil && b.ctx.Err() == nil {
			b.downUntil.Store(time.Now().Add(b.cfg.RetryAfter).UnixNano())
		}
		b.pipelines.Add(1)
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// Pipelines returns how many round trips Publish calls took together
// (at most one per call; fewer when concurrent calls shared one).
func (b *Bus) Pipelines() int64 { return b.pipelines.Load() }

// Subscribe calls fn, from a goroutine of its own, for every event that
// reaches this process after Subscribe returns, until cancel is called.
// The first Subscribe opens the Redis subscription and waits up to
// SubscribeWait for it. cancel waits until fn has returned for the last
// time, so it must not be called from fn; calling it twice is safe.
func (b *Bus) Subscribe(fn func(vibemon.Event)) (cancel func()) {
	s := fanout.Start(fn)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.Stop()
		return func() {}
	}
	b.subs[s] = struct{}{}
	b.startOnce.Do(func() {
		b.recvDone = make(chan struct{})
		go b.receive()
	})
	b.mu.Unlock()
	t := time.NewTimer(b.cfg.SubscribeWait)
	select {
	case <-b.ready:
	case <-t.C:
		b.log.Warn("redis bus: subscription not confirmed yet; live events will flow once it is", "channel", b.channel)
	}
	t.Stop()
	return func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.Stop()
	}
}

// Published returns how many events Redis accepted from this bus.
func (b *Bus) Published() int64 { return b.published.Load() }

// PublishErrors returns how many Publish calls failed (Redis slow or gone,
// or failing at once within RetryAfter of such a failure).
func (b *Bus) PublishErrors() int64 { return b.publishErrors.Load() }

// Received returns how many events reached this process through its
// subscription, before the fan-out to local subscribers.
func (b *Bus) Received() int64 { return b.received.Load() }

// Collectors returns the bus's counters for Prometheus:
// vibemon_redis_bus_published_events_total,
// vibemon_redis_bus_publish_errors_total,
// vibemon_redis_bus_received_events_total,
// vibemon_redis_bus_reconnects_total,
// vibemon_redis_bus_dropped_events_total and
// vibemon_redis_bus_corrupt_messages_total. Register them once per bus.
func (b *Bus) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vibemon_redis_bus_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("published_events_total", "Live events Redis accepted from this process.", &b.published),
		counter("publish_errors_total", "Publish calls to Redis that failed (their events reach no live client).", &b.publishErrors),
		counter("received_events_total", "Live events received from Redis by this process.", &b.received),
		counter("reconnects_total", "Times the Redis subscription was lost and opened again.", &b.reconnects),
		counter("dropped_events_total", "Received live events dropped because a local subscriber was too slow.", &b.dropped),
		counter("corrupt_messages_total", "Messages on the bus channel that were not VibeMon's and were ignored.", &b.corrupt),
	}
}

// Dropped returns how many events were dropped because a local
// subscriber's buffer was full.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Reconnects returns how many times the subscription was lost and opened
// again.
func (b *Bus) Reconnects() int64 { return b.reconnects.Load() }

// Corrupt returns how many received messages could not be decoded (another
// program publishing on the channel, or a newer VibeMon's format).
func (b *Bus) Corrupt() int64 { return b.corrupt.Load() }

// Close ends the subscription and every local subscription and makes later
// Publish calls fail. It does not close the Client. It is safe to call twice.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = make(map[*fanout.Subscriber]struct{})
	done := b.recvDone
	b.mu.Unlock()

	b.cancel()
	b.psMu.Lock()
	if b.ps != nil {
		b.ps.Close() // unblocks a pending receive
	}
	b.psMu.Unlock()
	if done != nil {
		<-done
	}
	for s := range subs {
		s.Stop()
	}
	return nil
}

// receive keeps one subscription open until the bus is closed.
func (b *Bus) receive() {
	defer close(b.recvDone)
	backoff := b.cfg.MinBackoff
	for {
		subscribed, err := b.session()
		if b.ctx.Err() != nil {
			return
		}
		if subscribed {
			backoff = b.cfg.MinBackoff
		}
		b.reconnects.Add(1)
		b.log.Warn("redis bus: subscription lost; reconnecting", "channel", b.channel, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, b.cfg.MaxBackoff)
	}
}

// session subscribes and delivers messages until the connection fails. It
// reports whether the subscription was confirmed.
func (b *Bus) session() (subscribed bool, err error) {
	ps := b.client.Subscribe(b.ctx) // no channel yet: nothing is sent
	b.psMu.Lock()
	if b.ctx.Err() != nil {
		b.psMu.Unlock()
		ps.Close()
		return false, b.ctx.Err()
	}
	b.ps = ps
	b.psMu.Unlock()
	defer func() {
		b.psMu.Lock()
		b.ps = nil
		b.psMu.Unlock()
		ps.Close()
	}()

	if err := ps.Subscribe(b.ctx, b.channel); err != nil {
		return false, fmt.Errorf("subscribe to %s: %w", b.channel, err)
	}
	msg, err := ps.ReceiveTimeout(b.ctx, b.cfg.HealthInterval)
	if err != nil {
		return false, fmt.Errorf("confirm subscription to %s: %w", b.channel, err)
	}
	if _, ok := msg.(*goredis.Subscription); !ok {
		return false, fmt.Errorf("confirm subscription to %s: unexpected %T", b.channel, msg)
	}
	b.readyOnce.Do(func() { close(b.ready) })

	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, b.cfg.HealthInterval)
		if err != nil {
			if b.ctx.Err() != nil {
				return true, b.ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Silence: make sure the connection still works.
				if err := ps.Ping(b.ctx); err != nil {
					return true, fmt.Errorf("ping %s: %w", b.channel, err)
				}
				pinged = true
				continue
			}
			return true, fmt.Errorf("receive from %s: %w", b.channel, err)
		}
		pinged = false
		if m, ok := msg.(*goredis.Message); ok {
			b.deliver(m.Payload)
		}
	}
}

// deliver decodes one message and queues its events for every local
// subscriber.
func (b *Bus) deliver(payload string) {
	events, err := decodeEvents(payload)
	if err != nil {
		if b.corrupt.Add(1) == 1 {
			b.log.Warn("redis bus: ignoring a message that is not VibeMon's", "channel", b.channel, "err", err)
		}
		return
	}
	b.received.Add(int64(len(events)))
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if n := s.Push(events, b.cfg.BufferSize); n > 0 {
			if b.dropped.Add(int64(n)) == int64(n) {
				b.log.Warn("redis bus: subscriber too slow; dropping events", "dropped", n)
			}
		}
	}
}
