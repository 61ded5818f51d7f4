package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/fanout"
)

// BusConfig configures a Bus. Its zero value is ready to use.
type BusConfig struct {
	// BufferSize is how many events may wait for one subscriber before new
	// events for it are dropped (and counted). Defaults to 65536.
	BufferSize int
	// Logger receives a warning when a subscriber starts losing events.
	// Defaults to discarding.
	Logger *slog.Logger
}

// Bus is a vibemon.Bus inside one process. Each subscriber has its own
// bounded buffer and goroutine, so Publish never waits for a subscriber and
// a slow subscriber never delays the others; each subscriber receives events
// in publish order. The zero value is not usable: call NewBus.
type Bus struct {
	bufferSize int
	logger     *slog.Logger

	mu     sync.RWMutex
	subs   map[*fanout.Subscriber]struct{}
	closed bool

	dropped atomic.Int64
}

var _ vibemon.Bus = (*Bus)(nil)

// NewBus returns an empty bus.
func NewBus(cfg BusConfig) *Bus {
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 65536
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{bufferSize: cfg.BufferSize, logger: cfg.Logger, subs: make(map[*fanout.Subscriber]struct{})}
}

// Publish queues the events for every current subscriber and returns without
// waiting for delivery. It returns an error when ctx is done or the bus is
// closed; events for a subscriber whose buffer is full are dropped.
func (b *Bus) Publish(ctx context.Context, events ...vibemon.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("publish events: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "The bus is closed."))
	}
	for s := range b.subs {
		if n := s.Push(events, b.bufferSize); n > 0 {
			if b.dropped.Add(int64(n)) == int64(n) {
				b.logger.Warn("bus subscriber too slow; dropping events", "dropped", n)
			}
		}
	}
	return nil
}

// Subscribe calls fn, from a goroutine of its own, for every event published
// after Subscribe returns, until cancel is called. cancel waits until fn has
// returned for the last time, so it must not be called from fn; calling it
// twice is safe.
func (b *Bus) Subscribe(fn func(vibemon.Event)) (cancel func()) {
	s := fanout.Start(fn)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.Stop()
		return func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.Stop()
	}
}

// Dropped returns how many events were dropped because a subscriber's buffer
// was full.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Close stops every subscription and makes later Publish calls fail. It is
// safe to call twice.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = make(map[*fanout.Subscriber]struct{})
	b.mu.Unlock()
	for s := range subs {
		s.Stop()
	}
	return nil
}
