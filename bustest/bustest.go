package bustest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// Timeout bounds every wait of the suite; a conforming bus delivers far
// faster.
const Timeout = 5 * time.Second

// Run checks that the buses made by newBus behave like a vibemon.Bus:
// fields survive the trip, each subscriber receives events in publish order,
// every subscriber receives every event, cancel stops delivery and is safe
// twice, concurrent publishers lose nothing, and a slow subscriber delays
// neither Publish nor the other subscribers. newBus must return a bus that
// no other test uses and register its cleanup with t.Cleanup.
func Run(t *testing.T, newBus func(t *testing.T) vibemon.Bus) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newBus(t)) })
	t.Run("Order", func(t *testing.T) { testOrder(t, newBus(t)) })
	t.Run("FanOut", func(t *testing.T) { testFanOut(t, newBus(t)) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, newBus(t)) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testConcurrentPublishers(t, newBus(t)) })
	t.Run("SlowSubscriber", func(t *testing.T) { testSlowSubscriber(t, newBus(t)) })
}

// Recorder collects the events a subscription receives.
type Recorder struct {
	mu     sync.Mutex
	events []vibemon.Event
	notify chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{notify: make(chan struct{}, 1)} }

// Record appends ev; it is the fn to pass to Subscribe.
func (r *Recorder) Record(ev vibemon.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Events returns a copy of the events received so far.
func (r *Recorder) Events() []vibemon.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vibemon.Event(nil), r.events...)
}

// WaitN waits until at least n events were received and returns them; it
// fails the test after Timeout.
func (r *Recorder) WaitN(t testing.TB, n int) []vibemon.Event {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		if evs := r.Events(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("received %d events after %v, want %d", len(r.Events()), Timeout, n)
			return nil
		}
	}
}

// event returns a reading event whose data carries the publisher and sequence.
func event(org int64, publisher, seq int) vibemon.Event {
	return vibemon.Event{
		Type:     vibemon.EventReading,
		OrgID:    org,
		DeviceID: int64(publisher + 1),
		AssetID:  int64(seq + 1),
		Data:     json.RawMessage(fmt.Sprintf(`{"p":%d,"seq":%d}`, publisher, seq)),
	}
}

type mark struct {
	P   int `json:"p"`
	Seq int `json:"seq"`
}

func decodeMark(t testing.TB, ev vibemon.Event) mark {
	t.Helper()
	var m mark
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event data %q is not the published JSON: %v", ev.Data, err)
	}
	return m
}

func publish(t testing.TB, bus vibemon.Bus, events ...vibemon.Event) {
	t.Helper()
	if err := bus.Publish(context.Background(), events...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func testRoundTrip(t *testing.T, bus vibemon.Bus) {
	rec := NewRecorder()
	cancel := bus.Subscribe(rec.Record)
	defer cancel()
	want := []vibemon.Event{
		{Type: vibemon.EventReading, OrgID: 7, DeviceID: 11, AssetID: 13, Data: json.RawMessage(`{"ts":"2025-01-02T03:04:05Z","seq":1,"values":{"acc_rms_x":0.25}}`)},
		{Type: vibemon.EventAlert, OrgID: 8, DeviceID: 12, Data: json.RawMessage(`{"id":3,"message":"caf\u00e9 \"hot\""}`)},
		{Type: vibemon.EventPresence, OrgID: 9, DeviceID: 14, AssetID: 15, Data: json.RawMessage(`{"online":false}`)},
	}
	publish(t, bus, want...)
	got := rec.WaitN(t, len(want))
	if len(got) != len(want) {
		t.Fatalf("received %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.OrgID != w.OrgID || g.DeviceID != w.DeviceID || g.AssetID != w.AssetID || string(g.Data) != string(w.Data) {
			t.Errorf("event %d = %+v (data %s), want %+v (data %s)", i, g, g.Data, w, w.Data)
		}
	}
}

func testOrder(t *testing.T, bus vibemon.Bus) {
	rec := NewRecorder()
	cancel := bus.Subscribe(rec.Record)
	defer cancel()
	const n = 1000
	// Mix single publishes and batches: order holds across both.
	for seq := 0; seq < n; {
		if seq%3 == 0 {
			publish(t, bus, event(1, 0, seq))
			seq++
			continue
		}
		var batch []vibemon.Event
		for k := 0; k < 7 && seq < n; k++ {
			batch = append(batch, event(1, 0, seq))
			seq++
		}
		publish(t, bus, batch...)
	}
	got := rec.WaitN(t, n)
	for i, ev := range got {
		if m := decodeMark(t, ev); m.Seq != i {
			t.Fatalf("event %d has seq %d, want %d (out of order)", i, m.Seq, i)
		}
	}
}

func testFanOut(t *testing.T, bus vibemon.Bus) {
	const subs, n = 5, 200
	recs := make([]*Recorder, subs)
	for i := range recs {
		recs[i] = NewRecorder()
		cancel := bus.Subscribe(recs[i].Record)
		defer cancel()
	}
	for seq := range n {
		publish(t, bus, event(int64(seq%3+1), 0, seq))
	}
	for i, rec := range recs {
		got := rec.WaitN(t, n)
		if len(got) != n {
			t.Errorf("subscriber %d received %d events, want %d", i, len(got), n)
		}
		for j, ev := range got {
			if m := decodeMark(t, ev); m.Seq != j {
				t.Fatalf("subscriber %d: event %d has seq %d, want %d", i, j, m.Seq, j)
			}
		}
	}
}

func testCancel(t *testing.T, bus vibemon.Bus) {
	gone, stays := NewRecorder(), NewRecorder()
	cancelGone := bus.Subscribe(gone.Record)
	cancelStays := bus.Subscribe(stays.Record)
	defer cancelStays()

	publish(t, bus, event(1, 0, 0))
	gone.WaitN(t, 1)
	stays.WaitN(t, 1)

	cancelGone()
	cancelGone() // safe twice
	const after = 50
	for seq := 1; seq <= after; seq++ {
		publish(t, bus, event(1, 0, seq))
	}
	// Once the remaining subscriber has everything, a cancelled one that
	// were still subscribed would have had time to get something too.
	stays.WaitN(t, 1+after)
	time.Sleep(50 * time.Millisecond)
	if got := len(gone.Events()); got != 1 {
		t.Errorf("cancelled subscriber received %d events, want 1 (none after cancel)", got)
	}
}

func testConcurrentPublishers(t *testing.T, bus vibemon.Bus) {
	rec := NewRecorder()
	cancel := bus.Subscribe(rec.Record)
	defer cancel()
	const publishers, n = 8, 250
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for seq := range n {
				if err := bus.Publish(context.Background(), event(1, p, seq)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	got := rec.WaitN(t, publishers*n)
	if len(got) != publishers*n {
		t.Fatalf("received %d events, want %d", len(got), publishers*n)
	}
	next := make([]int, publishers)
	for _, ev := range got {
		m := decodeMark(t, ev)
		if m.P < 0 || m.P >= publishers {
			t.Fatalf("event from unknown publisher %d", m.P)
		}
		if m.Seq != next[m.P] {
			t.Fatalf("publisher %d: got seq %d, want %d (each publisher's events must arrive in order)", m.P, m.Seq, next[m.P])
		}
		next[m.P]++
	}
}

func testSlowSubscriber(t *testing.T, bus vibemon.Bus) {
	// fn must not block, but a busy one must not hold up anyone else.
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	slow := NewRecorder()
	cancelSlow := bus.Subscribe(func(ev vibemon.Event) {
		<-release
		slow.Record(ev)
	})
	fast := NewRecorder()
	cancelFast := bus.Subscribe(fast.Record)
	defer cancelFast()

	const n = 100
	start := time.Now()
	for seq := range n {
		publish(t, bus, event(1, 0, seq))
	}
	if d := time.Since(start); d > Timeout/5 {
		t.Errorf("publishing %d events with a stuck subscriber took %v, want well under %v", n, d, Timeout/5)
	}
	fast.WaitN(t, n)
	unblock()
	slow.WaitN(t, 1)
	cancelSlow()
}
