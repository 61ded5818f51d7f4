package gateway_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibemon/vibemon/gateway"
)

func openQueue(t *testing.T, path string, cfg gateway.QueueConfig) *gateway.Queue {
	t.Helper()
	q, err := gateway.OpenQueue(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func reading(serial string, seq uint32) gateway.Reading {
	r := gateway.Reading{Serial: serial, Seq: seq, TS: time.Unix(1_800_000_000+int64(seq), 0)}
	for i := range r.Values {
		r.Values[i] = math.NaN()
	}
	r.Values[0] = 0.1
	return r
}

func pendingSeqs(t *testing.T, q *gateway.Queue) []uint32 {
	t.Helper()
	rs, _, err := q.Pending(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	q.Release()
	var out []uint32
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func TestQueueKeepsReadingsAcrossReopenAndIgnoresDuplicates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	q := openQueue(t, path, gateway.QueueConfig{})
	for _, s := range []uint32{1, 2, 3, 2, 1} {
		q.Add(reading("aa", s))
	}
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := q.Depth(); got != 3 {
		t.Fatalf("depth %d after 5 adds of 3 distinct seqs, want 3", got)
	}
	if err := q.SetAcked(ctx, "aa", 2); err != nil {
		t.Fatal(err)
	}
	q.Close()

	q2 := openQueue(t, path, gateway.QueueConfig{})
	if got, want := pendingSeqs(t, q2), []uint32{1, 2, 3}; len(got) != 3 || got[0] != want[0] || got[2] != want[2] {
		t.Fatalf("pending after reopen %v, want %v (acked does not drop readings not uploaded)", got, want)
	}
	d, err := q2.Device(ctx, "aa")
	if err != nil || d.Acked != 2 {
		t.Fatalf("device after reopen %+v, %v; want acked 2", d, err)
	}
	if n, err := q2.CountHeld(ctx, "aa", 2, 10); err != nil || n != 2 {
		t.Fatalf("held in [2,10) = %d, %v; want 2", n, err)
	}
}

func TestQueueUploadedReadingsLeaveButStayCountedUntilAcked(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"), gateway.QueueConfig{})
	for s := uint32(10); s < 20; s++ {
		q.Add(reading("bb", s))
	}
	q.Flush(ctx)
	rs, _, err := q.Pending(ctx, 4)
	if err != nil || len(rs) != 4 {
		t.Fatalf("pending(4) = %d readings, %v", len(rs), err)
	}
	if err := q.MarkUploaded(ctx, rs, rs[3:]); err != nil {
		t.Fatal(err)
	}
	if got := q.Depth(); got != 6 {
		t.Errorf("depth %d after 4 of 10 uploaded, want 6", got)
	}
	if n, _ := q.CountHeld(ctx, "bb", 0, 100); n != 10 {
		t.Errorf("held %d, want 10: uploaded readings still count for the completeness check", n)
	}
	gaps, _ := q.Gaps(ctx)
	if len(gaps) != 1 || gaps[0].First != 13 || gaps[0].Reason != gateway.GapRejected {
		t.Errorf("gaps %+v, want one rejected gap at seq 13", gaps)
	}
	q.SetAcked(ctx, "bb", 15)
	if n, _ := q.CountHeld(ctx, "bb", 0, 100); n != 6 {
		t.Errorf("held %d after ack 15, want 6 (uploaded readings below the ack are forgotten)", n)
	}
}

func TestQueueBoundDropsTheOldestAndRecordsGaps(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"), gateway.QueueConfig{MaxReadings: 5})
	for s := uint32(0); s < 8; s++ {
		q.Add(reading("cc", s))
		q.Flush(ctx)
	}
	if got := q.Depth(); got != 5 {
		t.Errorf("depth %d, want the bound 5", got)
	}
	if got := q.Dropped(); got != 3 {
		t.Errorf("dropped %d, want 3", got)
	}
	if got := pendingSeqs(t, q); got[0] != 3 || got[len(got)-1] != 7 {
		t.Errorf("pending %v, want 3..7 (oldest dropped)", got)
	}
	gaps, _ := q.Gaps(ctx)
	if len(gaps) != 3 || gaps[0].First != 0 || gaps[2].First != 2 || gaps[0].Reason != gateway.GapQueueFull {
		t.Errorf("gaps %+v, want queue_full at 0, 1, 2", gaps)
	}
	q.Add(reading("cc", 1)) // the node replays a dropped one
	q.Flush(ctx)
	if got := q.Depth(); got != 5 {
		t.Errorf("depth %d after a replay of a dropped reading, want 5: it stays dropped", got)
	}
}

func TestQueueConfigRejectsNegativeBound(t *testing.T) {
	if _, err := gateway.OpenQueue(filepath.Join(t.TempDir(), "q.db"), gateway.QueueConfig{MaxReadings: -1}); err == nil {
		t.Fatal("OpenQueue with MaxReadings -1: no error")
	}
}

// What the gateway delivered to a node is in the queue file: a gateway
// restarted on it still knows (docs/gateway.md, "Settings sync").
func TestQueueKeepsDeliveredSettingsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	q, err := gateway.OpenQueue(path, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := q.Delivered(ctx, "a1"); err != nil || d != (gateway.Delivered{}) {
		t.Fatalf("a node never given anything: %+v, %v", d, err)
	}
	want := gateway.Delivered{IntervalS: 30, RangeG: 8, SampleRateHz: 500, Window: 512}
	if err := q.SetDelivered(ctx, "a1", gateway.Delivered{IntervalS: 5}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetDelivered(ctx, "a1", want); err != nil {
		t.Fatal(err)
	}
	if err := q.SetDelivered(ctx, "b2", gateway.Delivered{IntervalS: 60}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQueue(t, path, gateway.QueueConfig{})
	if d, err := q.Delivered(ctx, "a1"); err != nil || d != want {
		t.Fatalf("after reopening: %+v, %v; want %+v", d, err, want)
	}
	if d, _ := q.Delivered(ctx, "b2"); d.IntervalS != 60 {
		t.Fatalf("b2 after reopening: %+v", d)
	}
}
