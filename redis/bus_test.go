package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/redis"
)

func newBus(t testing.TB, cfg redis.BusConfig) *redis.Bus {
	t.Helper()
	b, err := redis.NewBus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func reading(org int64, seq int) vibemon.Event {
	return vibemon.Event{Type: vibemon.EventReading, OrgID: org, DeviceID: int64(seq%50 + 1), AssetID: 3,
		Data: json.RawMessage(fmt.Sprintf(`{"ts":"2025-01-02T03:04:05.123Z","seq":%d,"values":{"acc_rms_x":0.251,"acc_rms_y":0.244,"acc_rms_z":0.198,"vel_rms_x":1.52,"vel_rms_y":1.48,"vel_rms_z":1.1,"temp_c":41.5}}`, seq))}
}

func seqOf(t testing.TB, ev vibemon.Event) int {
	t.Helper()
	var m struct{ Seq int }
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event data %q: %v", ev.Data, err)
	}
	return m.Seq
}

func TestBusConformance(t *testing.T) {
	c := newClient(t)
	bustest.Run(t, func(t *testing.T) vibemon.Bus {
		return newBus(t, redis.BusConfig{Client: c, Prefix: testPrefix(t)})
	})
}

func TestBusTwoReplicas(t *testing.T) {
	prefix := testPrefix(t)
	a := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix})
	b := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix})
	other := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: testPrefix(t)})
	onA, onB, onOther := bustest.NewRecorder(), bustest.NewRecorder(), bustest.NewRecorder()
	defer a.Subscribe(onA.Record)()
	defer b.Subscribe(onB.Record)()
	defer other.Subscribe(onOther.Record)()

	ctx := context.Background()
	if err := a.Publish(ctx, reading(1, 0), reading(2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, reading(1, 2)); err != nil {
		t.Fatal(err)
	}
	for name, rec := range map[string]*bustest.Recorder{"replica A": onA, "replica B": onB} {
		got := rec.WaitN(t, 3)
		for i, ev := range got {
			if s := seqOf(t, ev); s != i {
				t.Errorf("%s: event %d has seq %d, want %d", name, i, s, i)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(onOther.Events()); n != 0 {
		t.Errorf("a bus with another prefix received %d events, want 0", n)
	}
}

func TestBusLargeCallIsPipelinedInOrder(t *testing.T) {
	prefix := testPrefix(t)
	a := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix, MaxBatch: 64})
	b := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix})
	rec := bustest.NewRecorder()
	defer b.Subscribe(rec.Record)()
	events := make([]vibemon.Event, 1000)
	for i := range events {
		events[i] = reading(1, i)
	}
	if err := a.Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	for i, ev := range rec.WaitN(t, len(events)) {
		if s := seqOf(t, ev); s != i {
			t.Fatalf("event %d has seq %d, want %d", i, s, i)
		}
	}
}

func TestBusDropsForFullSubscriberWithoutBlocking(t *testing.T) {
	b := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: testPrefix(t), BufferSize: 4})
	release := make(chan struct{})
	got := make(chan int, 100)
	cancel := b.Subscribe(func(ev vibemon.Event) {
		<-release
		got <- seqOf(t, ev)
	})
	defer cancel()
	ctx := context.Background()
	if err := b.Publish(ctx, reading(1, 0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let fn take the first event
	var batch []vibemon.Event
	for i := 1; i < 10; i++ {
		batch = append(batch, reading(1, i))
	}
	if err := b.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bustest.Timeout)
	for b.Dropped() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	var seqs []int
	for len(seqs) < 5 {
		select {
		case s := <-got:
			seqs = append(seqs, s)
		case <-time.After(bustest.Timeout):
			t.Fatalf("received %v, want 5 events", seqs)
		}
	}
	if want := []int{0, 1, 2, 3, 4}; fmt.Sprint(seqs) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v (oldest kept, in order)", seqs, want)
	}
	if got, want := b.Dropped(), int64(5); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
}

func TestBusClosed(t *testing.T) {
	b := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: testPrefix(t)})
	n := 0
	cancel := b.Subscribe(func(vibemon.Event) { n++ })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close() // safe twice
	cancel()  // after Close: safe
	err := b.Publish(context.Background(), reading(1, 0))
	if got, want := vibemon.ErrorCode(err), vibemon.EUNAVAILABLE; got != want {
		t.Errorf("Publish after Close: code %q, want %q (err %v)", got, want, err)
	}
	if n != 0 {
		t.Errorf("fn called %d times, want 0", n)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if err := newBus(t, redis.BusConfig{Client: newClient(t)}).Publish(ctx, reading(1, 0)); err == nil {
		t.Error("Publish with a done context: got nil error, want one")
	}
}

func TestBusIdleSubscriptionStaysUp(t *testing.T) {
	// A silent subscription is pinged, not torn down.
	b := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: testPrefix(t), HealthInterval: 40 * time.Millisecond})
	rec := bustest.NewRecorder()
	defer b.Subscribe(rec.Record)()
	time.Sleep(300 * time.Millisecond)
	if err := b.Publish(context.Background(), reading(1, 0)); err != nil {
		t.Fatal(err)
	}
	rec.WaitN(t, 1)
	if got := b.Reconnects(); got != 0 {
		t.Errorf("Reconnects() = %d after an idle spell, want 0", got)
	}
}

// killPubSub closes, from the server side, the subscription connections of
// the client named name, and returns how many it closed.
func killPubSub(t *testing.T, admin *goredis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := admin.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
		if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatalf("CLIENT KILL ID %s: %v", id, err)
		}
		killed++
	}
	return killed
}

// waitDelivery publishes probe events on pub until rec receives one and
// returns how many events rec had then; it fails the test after the
// deadline.
func waitDelivery(t *testing.T, pub vibemon.Bus, rec *bustest.Recorder, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	// A probe of this call's own: earlier calls' probes may be in rec.
	probe := vibemon.Event{Type: "probe", OrgID: 1, Data: json.RawMessage(`{"probe":"` + randomHex(t) + `"}`)}
	for time.Now().Before(deadline) {
		pub.Publish(context.Background(), probe) // errors expected while down
		time.Sleep(20 * time.Millisecond)
		evs := rec.Events()
		for i, ev := range evs {
			if string(ev.Data) == string(probe.Data) {
				// Later copies of the probe may still be on their way:
				// count only what came before the first one.
				return i + 1
			}
		}
	}
	t.Fatalf("no event delivered within %v", within)
	return 0
}

// readingsAfter waits until rec has n reading events after its first from
// events and returns their seqs (late probes are skipped).
func readingsAfter(t *testing.T, rec *bustest.Recorder, from, n int) []int {
	t.Helper()
	deadline := time.Now().Add(bustest.Timeout)
	for {
		var seqs []int
		for _, ev := range rec.Events()[from:] {
			if ev.Type == vibemon.EventReading {
				seqs = append(seqs, seqOf(t, ev))
			}
		}
		if len(seqs) >= n || time.Now().After(deadline) {
			return seqs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBusRecoversAfterSubscriptionKilled(t *testing.T) {
	name := "vibemontest-" + randomHex(t)
	prefix := testPrefix(t)
	sub := newBus(t, redis.BusConfig{Client: newNamedClient(t, name), Prefix: prefix, MinBackoff: 20 * time.Millisecond})
	pub := newBus(t, redis.BusConfig{Client: newClient(t), Prefix: prefix})
	rec := bustest.NewRecorder()
	defer sub.Subscribe(rec.Record)()
	if err := pub.Publish(context.Background(), reading(1, 0)); err != nil {
		t.Fatal(err)
	}
	rec.WaitN(t, 1)

	admin := newClient(t)
	for round := 1; round <= 2; round++ { // twice: recovery is not one-shot
		if n := killPubSub(t, admin, name); n != 1 {
			t.Fatalf("round %d: killed %d subscription connections, want 1", round, n)
		}
		deadline := time.Now().Add(bustest.Timeout)
		for sub.Reconnects() < int64(round) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := sub.Reconnects(); got != int64(round) {
			t.Fatalf("round %d: Reconnects() = %d, want %d", round, got, round)
		}
		have := waitDelivery(t, pub, rec, bustest.Timeout)
		const n = 200
		for i := range n {
			if err := pub.Publish(context.Background(), reading(1, 1000*round+i)); err != nil {
				t.Fatal(err)
			}
		}
		seqs := readingsAfter(t, rec, have, n)
		if len(seqs) != n {
			t.Fatalf("round %d: %d readings after recovery, want %d", round, len(seqs), n)
		}
		for i, s := range seqs {
			if s != 1000*round+i {
				t.Fatalf("round %d: reading %d has seq %d, want %d", round, i, s, 1000*round+i)
			}
		}
	}
}

func TestBusPublishFailsFastWithoutRedis(t *testing.T) {
	// A port on loopback that nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: 1, DialerRetries: 1})
	defer c.Close()
	b := newBus(t, redis.BusConfig{Client: c, SubscribeWait: 100 * time.Millisecond, PublishTimeout: 500 * time.Millisecond})
	cancel := b.Subscribe(func(vibemon.Event) {}) // returns after SubscribeWait
	defer cancel()
	for i, limit := range []time.Duration{500 * time.Millisecond, 10 * time.Millisecond} {
		// The second call fails without asking Redis.
		start := time.Now()
		err := b.Publish(context.Background(), reading(1, 0))
		if err == nil {
			t.Fatalf("Publish %d without Redis: got nil error, want one", i+1)
		}
		if d := time.Since(start); d > limit {
			t.Errorf("Publish %d without Redis took %v, want under %v", i+1, d, limit)
		}
	}
	if _, err := redis.Connect(context.Background(), "redis://"+addr+"/0"); err == nil {
		t.Error("Connect without Redis: got nil error, want one")
	}
}

func TestBusCloseLeavesNoGoroutines(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t) // its cleanup client opens before the count
	before := runtime.NumGoroutine()
	c, err := redis.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redis.NewBus(redis.BusConfig{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	rec := bustest.NewRecorder()
	cancel := b.Subscribe(rec.Record)
	b.Subscribe(func(vibemon.Event) {}) // left to Close
	if err := b.Publish(context.Background(), reading(1, 0)); err != nil {
		t.Fatal(err)
	}
	rec.WaitN(t, 1)
	cancel()
	b.Close()
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, want at most %d as before:\n%s", got, before, buf[:runtime.Stack(buf, true)])
	}
}
