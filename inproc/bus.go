package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/vibemon/vibemon"
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
	subs   map[*subscriber]struct{}
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
	return &Bus{bufferSize: cfg.BufferSize, logger: cfg.Logger, subs: make(map[*subscriber]struct{})}
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
		if n := s.push(events, b.bufferSize); n > 0 {
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
	s := &subscriber{fn: fn, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(s.done)
		return func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.run()
	return func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.stop()
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
	b.subs = make(map[*subscriber]struct{})
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
	return nil
}

// subscriber owns one delivery goroutine and its FIFO buffer.
type subscriber struct {
	fn   func(vibemon.Event)
	done chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []vibemon.Event
	stopped atomic.Bool // written under mu; read without it per event
}

// push appends events and returns how many did not fit.
func (s *subscriber) push(events []vibemon.Event, limit int) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return 0
	}
	room := limit - len(s.buf)
	if room < len(events) {
		dropped = len(events) - max(room, 0)
		events = events[:max(room, 0)]
	}
	s.buf = append(s.buf, events...)
	s.cond.Signal()
	return dropped
}

func (s *subscriber) run() {
	defer close(s.done)
	var batch []vibemon.Event
	for {
		s.mu.Lock()
		for len(s.buf) == 0 && !s.stopped.Load() {
			s.cond.Wait()
		}
		if s.stopped.Load() {
			s.mu.Unlock()
			return
		}
		// Swap buffers so that publishers append to a fresh slice while fn
		// runs without the lock.
		batch, s.buf = s.buf, batch[:0]
		s.mu.Unlock()
		for i := range batch {
			if s.stopped.Load() {
				return
			}
			s.fn(batch[i])
			batch[i] = vibemon.Event{}
		}
	}
}

func (s *subscriber) stop() {
	s.mu.Lock()
	s.stopped.Store(true)
	s.buf = nil
	s.cond.Signal()
	s.mu.Unlock()
	<-s.done
}
