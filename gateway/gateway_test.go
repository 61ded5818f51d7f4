package gateway_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
)

// With the server unreachable, the gateway still takes every summary and
// acknowledges to a node only what is on disk; Stop leaves no goroutine.
func TestGatewayAcknowledgesOnlyWhatIsOnDisk(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := blelink.NewFleet(blelink.FleetConfig{Nodes: 3, Interval: 5 * time.Second, Seed: 5, Clock: blelink.NewClock(time.Now().Add(-time.Hour), 60),
		Link: blelink.LinkConfig{Drop: 0.05, Reorder: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx)
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := gateway.OpenQueue(path, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Central: f, Queue: q, Server: "http://127.0.0.1:1", Token: "t",
		ScanEvery: 20 * time.Millisecond, AckEvery: 100 * time.Millisecond, AckGrace: 50 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	g.Stop()
	g.Stop() // safe twice
	cancel()
	f.Stop()
	q.Close()

	q, err = gateway.OpenQueue(path, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	acked := 0
	for _, n := range f.Nodes() {
		d, err := q.Device(context.Background(), n.Serial())
		if err != nil {
			t.Fatal(err)
		}
		var below []uint32
		for _, s := range n.Produced() {
			if s < d.Acked {
				below = append(below, s)
			}
		}
		held, err := q.CountHeld(context.Background(), n.Serial(), 0, d.Acked)
		if err != nil {
			t.Fatal(err)
		}
		if held != len(below) {
			t.Errorf("node %s: acknowledged up to seq %d, %d summaries below it, %d on disk", n.Serial(), d.Acked, len(below), held)
		}
		acked += len(below)
	}
	if acked == 0 {
		t.Errorf("nothing acknowledged in 1.5 s")
	}
	if got := q.Depth(); got < int64(acked) {
		t.Errorf("queue depth %d after reopen, want >= %d (nothing was uploaded)", got, acked)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 { // database/sql keeps a connection opener
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
