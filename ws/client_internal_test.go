package ws

import (
	"testing"

	"github.com/coder/websocket"
)

// TestCloseBeforeServeStartsNoWriter: Stop may close a client whose
// upgrade is not done (no connection yet); the close frame must wait for
// serve, not start a writer on a nil connection.
func TestCloseBeforeServeStartsNoWriter(t *testing.T) {
	c := &client{hub: NewHub(Config{}), closing: make(chan struct{})}
	if !c.closeWith(websocket.StatusGoingAway, "server shutting down", nil) {
		t.Fatal("the first closeWith did not count")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing {
		t.Fatal("a writer started before the connection was served")
	}
}
