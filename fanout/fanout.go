// Package fanout delivers bus events to one local subscriber in order,
// without ever blocking the publisher: each Subscriber owns a bounded FIFO
// buffer and one goroutine that calls its function. The in-process bus and
// the Redis bus both hand events to their local subscribers through it.
package fanout

import (
	"sync"
	"sync/atomic"

	"github.com/vibemon/vibemon"
)

// Subscriber owns one delivery goroutine and its FIFO buffer.
type Subscriber struct {
	fn   func(vibemon.Event)
	done chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []vibemon.Event
	stopped atomic.Bool // written under mu; read without it per event
}

// Start returns a subscriber that calls fn for every pushed event, in
// order, on its own goroutine, until Stop.
func Start(fn func(vibemon.Event)) *Subscriber {
	s := &Subscriber{fn: fn, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// Push appends events and returns how many did not fit in limit buffered
// events; those are dropped, so a slow subscriber never holds up the
// publisher or the other subscribers.
func (s *Subscriber) Push(events []vibemon.Event, limit int) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return 0
	}
	room := max(limit-len(s.buf), 0)
	if room < len(events) {
		dropped = len(events) - room
		events = events[:room]
	}
	s.buf = append(s.buf, events...)
	s.cond.Signal()
	return dropped
}

func (s *Subscriber) run() {
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

// Stop discards what is buffered and waits until fn has returned for the
// last time, so it must not be called from inside fn. Safe to call twice.
func (s *Subscriber) Stop() {
	s.mu.Lock()
	s.stopped.Store(true)
	s.buf = nil
	s.cond.Signal()
	s.mu.Unlock()
	<-s.done
}
