package blelink_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon/gateway/blelink"
	"github.com/vibemon/vibemon/wire"
)

// startFleet runs n nodes with 5 s summaries at 60x.
func startFleet(t *testing.T, n int, link blelink.LinkConfig, physics bool) *blelink.Fleet {
	t.Helper()
	f, err := blelink.NewFleet(blelink.FleetConfig{Nodes: n, Interval: 5 * time.Second, Seed: 3, Physics: physics,
		Clock: blelink.NewClock(time.Now(), 60), Link: link})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); f.Stop() })
	return f
}

// receive connects to the first node, starts streaming and returns the
// summaries received, once it has n of them (n > 0) or after d.
func receive(t *testing.T, f *blelink.Fleet, n int, d time.Duration) (seqs []uint32, sums []wire.Summary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	addr := f.Nodes()[0].Addr()
	for advertising := false; !advertising; time.Sleep(10 * time.Millisecond) {
		addrs, _ := f.Scan(ctx)
		advertising = slices.Contains(addrs, addr)
		if ctx.Err() != nil {
			t.Fatal("the node does not advertise")
		}
	}
	c, err := f.Connect(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := f.Connect(ctx, addr); err == nil {
		t.Error("a second central was admitted to a connected node")
	}
	if err := c.WriteControl(ctx, wire.AppendCommand(nil, &wire.Command{Op: wire.OpResumeFrom})); err != nil {
		t.Fatal(err)
	}
	var df wire.Defragmenter
	for {
		select {
		case <-ctx.Done():
			return seqs, sums
		case b, ok := <-c.Notifications():
			if !ok {
				return seqs, sums
			}
			if len(b) > c.MTU() {
				t.Fatalf("notification of %d bytes over the MTU %d", len(b), c.MTU())
			}
			pkt, err := df.Feed(b)
			if err != nil || pkt == nil {
				continue
			}
			var h wire.Header
			var s wire.Summary
			p, err := wire.DecodeHeader(pkt, &h)
			if err == nil && h.Type == wire.TypeSummary && wire.DecodeSummary(p, &s) == nil {
				seqs = append(seqs, h.Seq)
				sums = append(sums, s)
				if n > 0 && len(seqs) >= n {
					return seqs, sums
				}
			}
		}
	}
}

func TestLinkCarriesSummariesAtBothMTUs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mtu     int
		physics bool
		least   int // summaries to wait for (12 a second; the signal model is slow under -race)
	}{
		{"MTU 244, sine", 244, false, 10},
		{"MTU 20 fragments, signal model", 20, true, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFleet(t, 2, blelink.LinkConfig{MTU: tt.mtu}, tt.physics)
			// The time bound only ends a test that would hang: a loaded
			// machine is slow, not wrong.
			seqs, sums := receive(t, f, tt.least, 60*time.Second)
			if len(seqs) < tt.least {
				t.Fatalf("%d summaries in 60 s, want >= %d", len(seqs), tt.least)
			}
			made := map[uint32]bool{}
			for _, s := range f.Nodes()[0].Produced() {
				made[s] = true
			}
			for i, s := range seqs {
				if !made[s] {
					t.Errorf("received seq %d the node never made", s)
				}
				if i > 0 && s <= seqs[i-1] {
					t.Errorf("seq %d after %d on a perfect link", s, seqs[i-1])
				}
			}
			if v := sums[len(sums)-1].Values[wire.AccRMSX]; !(v > 0.001 && v < 5) {
				t.Errorf("acc_rms_x = %g g, want a plausible vibration", v)
			}
		})
	}
}

func TestLinkThatDropsEverythingDeliversNothing(t *testing.T) {
	f := startFleet(t, 1, blelink.LinkConfig{Drop: 1}, false)
	seqs, _ := receive(t, f, 1, time.Second)
	if len(seqs) != 0 {
		t.Fatalf("%d summaries through a link dropping all, want 0", len(seqs))
	}
	if st := f.Stats(); st.Dropped == 0 {
		t.Fatalf("stats %+v: no drop counted", st)
	}
}

func TestDisconnectClosesNotifications(t *testing.T) {
	f := startFleet(t, 1, blelink.LinkConfig{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var addrs []string
	for len(addrs) == 0 {
		addrs, _ = f.Scan(ctx)
		time.Sleep(10 * time.Millisecond)
	}
	c, err := f.Connect(ctx, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	f.Nodes()[0].Disconnect()
	for {
		select {
		case _, ok := <-c.Notifications():
			if !ok {
				if err := c.WriteControl(ctx, wire.AppendCommand(nil, &wire.Command{Op: wire.OpRequestStatus})); err == nil {
					t.Error("a write on a closed link succeeded")
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("notifications not closed 5 s after the node dropped the link")
		}
	}
}

func TestFleetStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := blelink.NewFleet(blelink.FleetConfig{Nodes: 5, Interval: 5 * time.Second, Clock: blelink.NewClock(time.Now(), 60), Link: blelink.LinkConfig{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx)
	for _, n := range f.Nodes() {
		for {
			if c, err := f.Connect(ctx, n.Addr()); err == nil {
				c.WriteControl(ctx, wire.AppendCommand(nil, &wire.Command{Op: wire.OpResumeFrom}))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	f.Stop()
	f.Stop() // safe twice
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Stop, %d before Start", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
