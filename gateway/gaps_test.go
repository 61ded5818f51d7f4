package gateway_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon/gateway"
)

// noNodes is a Central that never finds a node.
type noNodes struct{}

func (noNodes) Scan(context.Context) ([]string, error) { return nil, nil }
func (noNodes) Connect(context.Context, string) (gateway.Conn, error) {
	return nil, gateway.ErrDisconnected
}

type gapBody struct {
	Gaps []struct {
		FromSeq int64  `json:"from_seq"`
		ToSeq   int64  `json:"to_seq"`
		Reason  string `json:"reason"`
		At      string `json:"at"`
	} `json:"gaps"`
}

// TestGatewayReportsGapsUntilTheServerTakesThem: the queue's gaps reach
// POST /devices/{id}/gaps as seq ranges (one-reading queue_full rows
// merged); a 503 leaves them unsent and they are sent again; after the
// 2xx they are marked sent, across a reopen, and never sent again.
func TestGatewayReportsGapsUntilTheServerTakesThem(t *testing.T) {
	const serial = "00112233aabbccdd"
	var mu sync.Mutex
	var bodies []gapBody
	calls := 0
	took := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return // 200: the connectivity check before a retry
		}
		if r.Method != "POST" || r.URL.Path != "/api/v1/devices/42/gaps" {
			http.NotFound(w, r)
			return
		}
		var b gapBody
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			t.Errorf("gap report is not JSON: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		bodies = append(bodies, b)
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"stored":1,"duplicates":0}`))
		if calls == 2 {
			close(took)
		}
	}))
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "q.db")
	q := openQueue(t, path, gateway.QueueConfig{})
	ctx := context.Background()
	if err := q.SetDeviceID(ctx, serial, 42); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, g := range []gateway.Gap{
		{First: 3, Count: 1, Reason: gateway.GapQueueFull}, {First: 5, Count: 1, Reason: gateway.GapQueueFull},
		{First: 4, Count: 1, Reason: gateway.GapQueueFull}, {First: 9, Count: 1, Reason: gateway.GapQueueFull},
		{First: 0, Count: 3, Reason: gateway.GapNodeOverflow}, {First: 7, Count: 1, Reason: gateway.GapRejected},
	} {
		g.Serial, g.At = serial, at
		q.AddGap(g)
	}
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Central: noNodes{}, Queue: q, Server: srv.URL, Token: "t",
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-took:
	case <-time.After(20 * time.Second):
		t.Fatal("the gaps were never reported after the 503")
	}
	// Sent is marked after the 2xx, before the next report: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		un, err := q.UnsentGaps(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(un) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d gaps still unsent after the server took them", len(un))
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.Stop()
	q.Close()

	type rng struct {
		from, to int64
		reason   string
	}
	want := []rng{{0, 2, "node_ring_overflow"}, {3, 5, "queue_full"}, {9, 9, "queue_full"}, {7, 7, "rejected"}}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("%d reports, want 2 (a 503, then the retry)", len(bodies))
	}
	for i, b := range bodies {
		var got []rng
		for _, x := range b.Gaps {
			got = append(got, rng{x.FromSeq, x.ToSeq, x.Reason})
			if x.At != "2026-01-02T03:04:05Z" {
				t.Errorf("report %d: at %q, want when the gap was recorded", i, x.At)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("report %d: %v, want %v", i, got, want)
		}
	}
	q2 := openQueue(t, path, gateway.QueueConfig{})
	all, err := q2.Gaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		if !x.Sent {
			t.Errorf("gap %+v not marked sent after reopen", x)
		}
	}
}

// TestQueueFromBeforeGapReportingOpens: a queue file whose gaps table has
// no sent column gets one; its gaps count as unsent.
func TestQueueFromBeforeGapReportingOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE gaps (serial TEXT NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL);
INSERT INTO gaps VALUES ('aa', 5, 2, 'queue_full', 0);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	q := openQueue(t, path, gateway.QueueConfig{})
	un, err := q.UnsentGaps(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 1 || un[0].First != 5 || un[0].Count != 2 || un[0].Sent {
		t.Errorf("unsent gaps of the old file: %+v, want the one gap 5+2", un)
	}
}

// TestQueuePrunesSentGapsOnceAcknowledged: a gap row leaves the queue file
// once the server took it and the node's acknowledgement passed it; an
// unsent one stays (it must still be reported), and so does a sent one the
// acknowledgement has not passed (the completeness check counts it).
func TestQueuePrunesSentGapsOnceAcknowledged(t *testing.T) {
	const serial = "00112233aabbccdd"
	path := filepath.Join(t.TempDir(), "q.db")
	var logged []gateway.Gap // OnGap sees every row, pruned or not
	q := openQueue(t, path, gateway.QueueConfig{OnGap: func(g gateway.Gap) { logged = append(logged, g) }})
	ctx := context.Background()
	if err := q.SetAcked(ctx, serial, 10); err != nil {
		t.Fatal(err)
	}
	for _, g := range []gateway.Gap{
		{First: 2, Count: 3, Reason: gateway.GapNodeOverflow}, // below the mark
		{First: 8, Count: 4, Reason: gateway.GapQueueFull},    // straddles it
		{First: 20, Count: 1, Reason: gateway.GapRejected},    // above it
		{First: 5, Count: 1, Reason: gateway.GapRejected},     // below, but stays unsent
	} {
		g.Serial = serial
		q.AddGap(g)
	}
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	un, err := q.UnsentGaps(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.MarkGapsSent(ctx, un[:3]); err != nil {
		t.Fatal(err)
	}
	firsts := func() []uint32 {
		t.Helper()
		all, err := q.Gaps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint32
		for _, g := range all {
			out = append(out, g.First)
		}
		return out
	}
	if got := firsts(); !slices.Equal(got, []uint32{8, 20, 5}) {
		t.Fatalf("gaps after the server took three: first seqs %v, want [8 20 5] (2+3 is sent and acknowledged)", got)
	}
	if err := q.SetAcked(ctx, serial, 12); err != nil {
		t.Fatal(err)
	}
	if got := firsts(); !slices.Equal(got, []uint32{20, 5}) {
		t.Fatalf("gaps after acknowledging to 12: %v, want [20 5]", got)
	}
	if err := q.SetAcked(ctx, serial, 100); err != nil {
		t.Fatal(err)
	}
	if got := firsts(); !slices.Equal(got, []uint32{5}) {
		t.Fatalf("gaps after acknowledging to 100: %v, want only the unsent [5]", got)
	}
	un, _ = q.UnsentGaps(ctx, 10)
	if err := q.MarkGapsSent(ctx, un); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQueue(t, path, gateway.QueueConfig{})
	if got := firsts(); len(got) != 0 {
		t.Fatalf("gaps after all were sent and acknowledged, reopened: %v, want none", got)
	}
	if len(logged) != 4 || logged[0].First != 2 || logged[0].Count != 3 || logged[3].Reason != gateway.GapRejected {
		t.Errorf("OnGap saw %+v, want the four rows as recorded", logged)
	}
}
