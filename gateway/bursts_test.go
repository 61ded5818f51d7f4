package gateway_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon/gateway"
)

// TestQueueKeepsBurstsAcrossRestartAndBoundsThem: a reassembled burst is
// on disk until the server took it, survives a gateway restart bit for
// bit, and the queue holds at most MaxBursts, dropping the oldest.
func TestQueueKeepsBurstsAcrossRestartAndBoundsThem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := gateway.OpenQueue(path, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.Burst{Serial: "a1", TS: time.UnixMilli(1_800_000_000_123), RateHz: 1000, Scale: 0.000122, Axes: 3,
		Data: []int16{1, -2, 3, 32767, -32768, 0}}
	if dropped, err := q.AddBurst(ctx, want); err != nil || dropped != 0 {
		t.Fatalf("AddBurst: dropped %d, err %v", dropped, err)
	}
	q.Close()

	q = openQueue(t, path, gateway.QueueConfig{})
	bs, err := q.Bursts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 {
		t.Fatalf("%d bursts after reopening, want 1", len(bs))
	}
	got := bs[0]
	if got.Serial != want.Serial || !got.TS.Equal(want.TS) || got.RateHz != want.RateHz || got.Scale != want.Scale ||
		got.Axes != want.Axes || !slices.Equal(got.Data, want.Data) {
		t.Errorf("burst after reopening %+v, want %+v", got, want)
	}
	if err := q.DeleteBurst(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if bs, _ := q.Bursts(ctx, 10); len(bs) != 0 {
		t.Errorf("%d bursts after the server took the only one, want 0", len(bs))
	}

	total := 0
	for i := range gateway.MaxBursts + 5 {
		b := want
		b.TS = want.TS.Add(time.Duration(i) * time.Minute)
		dropped, err := q.AddBurst(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		total += dropped
	}
	bs, err = q.Bursts(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != gateway.MaxBursts || total != 5 || !bs[0].TS.Equal(want.TS.Add(5*time.Minute)) {
		t.Errorf("%d bursts held, %d dropped, oldest at %s; want %d held, the 5 oldest dropped",
			len(bs), total, bs[0].TS, gateway.MaxBursts)
	}
}
