package ws

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// TestReadyOnlyOnceRegistered: a client is told it is ready only together
// with its entry in the hub's index, so whoever sees it go live and then
// publishes (a colleague's acknowledgement after the page shows "Live")
// reaches it. While a dispatch holds the index, the ready message must not
// be queued yet; once it is, the client must be in the index.
func TestReadyOnlyOnceRegistered(t *testing.T) {
	h := NewHub(Config{})
	// writing: as if a writer ran, so none starts and the queue stays visible.
	c := &client{hub: h, ep: endpointAlerts, orgID: 7, writing: true, closing: make(chan struct{})}
	queued := func() [][]byte {
		c.mu.Lock()
		defer c.mu.Unlock()
		return slices.Clone(c.queue)
	}
	h.indexMu.RLock() // a dispatch reading the index
	done := make(chan struct{})
	go func() {
		h.registerReady(c)
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	if q := queued(); len(q) != 0 {
		h.indexMu.RUnlock()
		t.Fatalf("ready queued (%q) while the client was not in the index yet", q)
	}
	h.indexMu.RUnlock()
	<-done
	if q := queued(); len(q) != 1 || !bytes.Equal(q[0], readyMessage) {
		t.Errorf("queue after registration = %q, want just ready", q)
	}
	h.indexMu.RLock()
	registered := slices.Contains(h.index[indexKey{7, endpointAlerts}], c)
	h.indexMu.RUnlock()
	if !registered {
		t.Error("the client is not in the index after ready was queued")
	}
}
