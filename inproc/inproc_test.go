package inproc_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/limitertest"
	"github.com/vibemon/vibemon/presencetest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestBusDropsForFullSubscriberWithoutBlocking(t *testing.T) {
	b := inproc.NewBus(inproc.BusConfig{BufferSize: 4})
	defer b.Close()
	release := make(chan struct{})
	got := make(chan int64, 100)
	cancel := b.Subscribe(func(ev vibemon.Event) {
		<-release
		got <- ev.DeviceID
	})
	defer cancel()
	// The first event is taken by fn (blocked); 4 fit the buffer; 5 drop.
	for i := int64(1); i <= 10; i++ {
		if err := b.Publish(context.Background(), vibemon.Event{Type: vibemon.EventReading, OrgID: 1, DeviceID: i, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			time.Sleep(20 * time.Millisecond) // let fn take the first event
		}
	}
	close(release)
	var ids []int64
	for len(ids) < 5 {
		select {
		case id := <-got:
			ids = append(ids, id)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %v, want 5 events", ids)
		}
	}
	if want := []int64{1, 2, 3, 4, 5}; !slices.Equal(ids, want) {
		t.Errorf("delivered %v, want %v (oldest kept, in order)", ids, want)
	}
	if got, want := b.Dropped(), int64(5); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
}

func TestBusClosed(t *testing.T) {
	b := inproc.NewBus(inproc.BusConfig{})
	n := 0
	cancel := b.Subscribe(func(vibemon.Event) { n++ })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close() // safe twice
	cancel()  // after Close: safe
	err := b.Publish(context.Background(), vibemon.Event{Type: vibemon.EventAlert, OrgID: 1})
	if got, want := vibemon.ErrorCode(err), vibemon.EUNAVAILABLE; got != want {
		t.Errorf("Publish after Close: code %q, want %q (err %v)", got, want, err)
	}
	if n != 0 {
		t.Errorf("fn called %d times, want 0", n)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if err := inproc.NewBus(inproc.BusConfig{}).Publish(ctx); err == nil {
		t.Error("Publish with a done context: got nil error, want one")
	}
}

type inprocPresence struct{ *inproc.Presence }

func (p inprocPresence) Sweep(_ context.Context, now time.Time) ([]presencetest.Ref, error) {
	var out []presencetest.Ref
	for _, d := range p.Presence.Sweep(now) {
		out = append(out, presencetest.Ref{OrgID: d.OrgID, DeviceID: d.DeviceID})
	}
	return out, nil
}

// TestPresence runs the presence specification; replicas of one process
// share one inproc.Presence.
func TestPresence(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, ttl time.Duration) func() presencetest.Presence {
		p := inprocPresence{inproc.NewPresence(inproc.PresenceConfig{TTL: ttl})}
		return func() presencetest.Presence { return p }
	})
}

// TestLimiter runs the limiter specification; the replicas of one test
// share one Limiter, as goroutines of one process do.
func TestLimiter(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, limit int, window time.Duration) func() limitertest.Allow {
		l := inproc.NewLimiter(inproc.LimiterConfig{Limit: limit, Window: window})
		return func() limitertest.Allow {
			return func(key string, now time.Time) (bool, error) { return l.Allow(key, now), nil }
		}
	})
}
