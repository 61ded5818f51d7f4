package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/vibemon/vibemon"
)

// lookupTimeout bounds the Devices, Assets and Presence calls of one
// client message.
const lookupTimeout = 5 * time.Second

// Authentication states of a client.
const (
	authPending int32 = iota
	authDone
	authTimedOut
)

// client is one WebSocket connection. Its reader runs on the HTTP handler's
// goroutine; a writer goroutine runs only while messages wait or the
// connection closes, and pings run on a timer, so an idle connection holds
// one goroutine and no queue (10,000 idle connections are measured in
// docs/benchmarks.md). The hub's fan-out only ever touches the queue,
// closing and subs.
type client struct {
	hub    *Hub
	ep     endpoint
	conn   *websocket.Conn
	ctx    context.Context // cancelled to drop the connection at once
	cancel context.CancelFunc

	// orgID and userID (or keyID, for an API key) are set by the reader
	// before register.
	orgID, userID, keyID int64
	auth                 atomic.Int32

	subs atomic.Pointer[subscriptions]

	// mu guards the queue and the writer's state.
	mu      sync.Mutex
	queue   [][]byte // at most hub.cfg.QueueSize; nil when empty
	started bool     // serve runs: conn and ctx are set, a writer may start
	writing bool     // a writer goroutine runs; after closing, for good
	closed  bool     // closeWith ran: the writer sends the close frame
	writers sync.WaitGroup
	ping    *time.Timer

	closeOnce   sync.Once
	closing     chan struct{}
	closeCode   websocket.StatusCode
	closeReason string
	closeMsg    []byte // last message before the close frame, if any
}

// subscriptions is an immutable set; updates replace it.
type subscriptions struct {
	org     bool
	devices map[int64]struct{}
	assets  map[int64]struct{}
}

func (s *subscriptions) count() int {
	if s == nil {
		return 0
	}
	n := len(s.devices) + len(s.assets)
	if s.org {
		n++
	}
	return n
}

// wants reports whether the client's subscriptions match ev, whose org is
// the client's.
func (c *client) wants(ev vibemon.Event) bool {
	if c.ep == endpointAlerts {
		return true
	}
	s := c.subs.Load()
	if s == nil {
		return false
	}
	if s.org {
		return true
	}
	if _, ok := s.devices[ev.DeviceID]; ok && ev.DeviceID != 0 {
		return true
	}
	_, ok := s.assets[ev.AssetID]
	return ok && ev.AssetID != 0
}

// send queues msg without blocking; a full queue disconnects the client as
// a slow consumer.
func (c *client) send(msg []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.hub.metrics.dropped.Inc()
		return
	}
	if len(c.queue) >= c.hub.cfg.QueueSize {
		c.mu.Unlock()
		c.hub.metrics.dropped.Inc()
		if c.closeWith(websocket.StatusPolicyViolation, "slow consumer", nil) {
			c.hub.metrics.slow.Inc()
			c.hub.log.Info("ws: disconnecting slow client", "endpoint", c.ep, "org_id", c.orgID, "user_id", c.userID, "queue", c.hub.cfg.QueueSize)
		}
		return
	}
	c.queue = append(c.queue, msg)
	c.startWriterLocked()
	c.mu.Unlock()
}

// startWriterLocked starts the writer unless one runs or the connection
// is not served yet (Stop may close a client before its upgrade is done);
// c.mu is held.
func (c *client) startWriterLocked() {
	if c.writing || !c.started {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.writeLoop()
}

// closeWith asks the writer to send msg (if any) and then close with code;
// queued messages are dropped. Only the first call counts; it reports
// whether it was this one.
func (c *client) closeWith(code websocket.StatusCode, reason string, msg []byte) bool {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.closeCode, c.closeReason, c.closeMsg = code, reason, msg
		c.closed = true
		close(c.closing)
		c.startWriterLocked()
		c.mu.Unlock()
	})
	return first
}

// fail closes the connection after an error message.
func (c *client) fail(status websocket.StatusCode, code, message string) {
	c.closeWith(status, closeReason(status), errorMessage(code, message))
}

func closeReason(status websocket.StatusCode) string {
	switch status {
	case websocket.StatusUnsupportedData:
		return "unsupported data"
	case websocket.StatusPolicyViolation:
		return "policy violation"
	}
	return ""
}

// serve runs the connection until it is closed.
func (c *client) serve(queryToken string) {
	c.mu.Lock()
	c.started = true
	if c.closed { // closed while upgrading: send the close frame now
		c.startWriterLocked()
	}
	c.mu.Unlock()
	c.startPings()
	c.readLoop(queryToken)
	// The peer is gone or the writer closed the connection; either way the
	// writer must end.
	c.closeWith(websocket.StatusNormalClosure, "", nil)
	c.stopPings()
	c.writers.Wait()
}

// startPings pings the peer every PingInterval from a timer, so an idle
// connection has no goroutine waiting to ping. A failed ping drops it.
func (c *client) startPings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ping = time.AfterFunc(c.hub.cfg.PingInterval, func() {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.WriteTimeout)
		err := c.conn.Ping(ctx)
		cancel()
		if err != nil {
			c.drop()
			return
		}
		c.mu.Lock()
		if !c.closed {
			c.ping.Reset(c.hub.cfg.PingInterval)
		}
		c.mu.Unlock()
	})
}

func (c *client) stopPings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ping.Stop()
}

// readLoop reads client messages until the connection fails. After a
// protocol error it keeps reading (and ignoring) so that the close
// handshake and a forced drop via ctx both work.
func (c *client) readLoop(queryToken string) {
	if queryToken != "" {
		c.authenticate(queryToken)
	} else {
		t := time.AfterFunc(c.hub.cfg.AuthTimeout, func() {
			if c.auth.CompareAndSwap(authPending, authTimedOut) {
				c.fail(websocket.StatusPolicyViolation, vibemon.EUNAUTHORIZED, "No auth message within "+c.hub.cfg.AuthTimeout.String()+".")
			}
		})
		defer t.Stop()
	}
	for {
		typ, data, err := c.conn.Read(c.ctx)
		if err != nil {
			return
		}
		select {
		case <-c.closing:
			continue
		default:
		}
		if typ != websocket.MessageText {
			c.fail(websocket.StatusUnsupportedData, vibemon.EINVALID, "Messages must be JSON text.")
			continue
		}
		var m clientMessage
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			c.fail(websocket.StatusUnsupportedData, vibemon.EINVALID, "Messages must be JSON objects with known fields: "+jsonProblem(err))
			continue
		}
		c.handle(m)
	}
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d.", se.Offset)
	}
	return err.Error() + "."
}

// handle acts on one decoded client message.
func (c *client) handle(m clientMessage) {
	if c.auth.Load() != authDone {
		if m.Type != "auth" {
			c.fail(websocket.StatusPolicyViolation, vibemon.EUNAUTHORIZED, `Authenticate first: send {"type":"auth","token":"..."} or connect with ?token=.`)
			return
		}
		c.authenticate(m.Token)
		return
	}
	switch m.Type {
	case "auth":
		// A fresh token for the same user keeps the connection; any other
		// token ends it.
		org, user, key, err := c.verify(m.Token)
		if err != nil || org != c.orgID || user != c.userID || key != c.keyID {
			c.fail(websocket.StatusPolicyViolation, vibemon.EUNAUTHORIZED, "The token is invalid or belongs to another user.")
		}
	case "subscribe", "unsubscribe":
		if c.ep != endpointTelemetry {
			c.fail(websocket.StatusPolicyViolation, vibemon.EINVALID, "/ws/alerts streams every alert of your org; it takes no subscriptions.")
			return
		}
		if n := countTargets(m); n != 1 {
			c.fail(websocket.StatusPolicyViolation, vibemon.EINVALID, m.Type+` needs exactly one of "device_id", "asset_id" or "org":true.`)
			return
		}
		if m.DeviceID < 0 || m.AssetID < 0 {
			c.fail(websocket.StatusPolicyViolation, vibemon.EINVALID, "device_id and asset_id must be positive ids.")
			return
		}
		if m.Type == "subscribe" {
			c.subscribe(m)
		} else {
			c.unsubscribe(m)
		}
	default:
		c.fail(websocket.StatusPolicyViolation, vibemon.EINVALID, fmt.Sprintf("Unknown message type %q.", m.Type))
	}
}

func countTargets(m clientMessage) int {
	n := 0
	if m.DeviceID != 0 {
		n++
	}
	if m.AssetID != 0 {
		n++
	}
	if m.Org {
		n++
	}
	return n
}

// verify checks an access token (user) or an API key (key, as the HTTP
// API accepts one).
func (c *client) verify(token string) (org, user, key int64, err error) {
	if !vibemon.IsAPIKey(token) {
		org, user, err = c.hub.cfg.Verify(token)
		return org, user, 0, err
	}
	if c.hub.cfg.VerifyKey == nil {
		return 0, 0, 0, vibemon.Errorf(vibemon.EUNAUTHORIZED, "API keys are not accepted here; use an access token.")
	}
	ctx, cancel := context.WithTimeout(c.ctx, lookupTimeout)
	defer cancel()
	org, key, err = c.hub.cfg.VerifyKey(ctx, token)
	if err == nil && key <= 0 {
		err = errors.New("ws: VerifyKey returned no key id")
	}
	return org, 0, key, err
}

// authenticate verifies the token and, when it is good, queues ready and
// makes the client eligible for its org's events.
func (c *client) authenticate(token string) {
	org, user, key, err := c.verify(token)
	if err != nil || org <= 0 {
		msg := "Invalid or expired token."
		if vibemon.ErrorCode(err) == vibemon.EUNAUTHORIZED {
			msg = vibemon.ErrorMessage(err)
		}
		c.fail(websocket.StatusPolicyViolation, vibemon.EUNAUTHORIZED, msg)
		return
	}
	if !c.auth.CompareAndSwap(authPending, authDone) {
		return // timed out meanwhile
	}
	c.orgID, c.userID, c.keyID = org, user, key
	if c.ep == endpointTelemetry && c.hub.cfg.Watch != nil {
		ctx, cancel := context.WithTimeout(c.ctx, lookupTimeout)
		if err := c.hub.cfg.Watch(ctx, org); err != nil {
			c.hub.log.Warn("ws: mark the org as watched; other replicas may not stream its readings until the next renewal", "org_id", org, "err", err)
		}
		cancel()
	}
	c.hub.registerReady(c)
}

func (c *client) subscribe(m clientMessage) {
	ctx, cancel := context.WithTimeout(c.ctx, lookupTimeout)
	defer cancel()
	switch {
	case m.DeviceID != 0:
		if _, err := c.hub.cfg.Devices(ctx, c.orgID, m.DeviceID); err != nil {
			c.lookupFailed(err, fmt.Sprintf("Device %d is not in your organization.", m.DeviceID))
			return
		}
	case m.AssetID != 0 && c.hub.cfg.Assets != nil:
		if err := c.hub.cfg.Assets(ctx, c.orgID, m.AssetID); err != nil {
			c.lookupFailed(err, fmt.Sprintf("Asset %d is not in your organization.", m.AssetID))
			return
		}
	}
	old := c.subs.Load()
	if old.count() >= c.hub.cfg.MaxSubscriptions {
		c.send(errorMessage(vibemon.ETOOLARGE, fmt.Sprintf("At most %d subscriptions per connection; subscribe to the org or an asset instead.", c.hub.cfg.MaxSubscriptions)))
		return
	}
	c.subs.Store(old.with(m, true))
	c.send(snapshotMessage(c.snapshot(ctx, m)))
}

func (c *client) unsubscribe(m clientMessage) {
	c.subs.Store(c.subs.Load().with(m, false))
}

// lookupFailed reports a failed ownership check without closing: the id may
// simply be stale.
func (c *client) lookupFailed(err error, notFound string) {
	switch vibemon.ErrorCode(err) {
	case vibemon.ENOTFOUND:
		c.send(errorMessage(vibemon.ENOTFOUND, notFound))
	default:
		c.hub.log.Error("ws: subscription lookup", "org_id", c.orgID, "err", err)
		c.send(errorMessage(vibemon.ErrorCode(err), vibemon.ErrorMessage(err)))
	}
}

// with returns a copy of s with the target of m added or removed.
func (s *subscriptions) with(m clientMessage, add bool) *subscriptions {
	n := &subscriptions{devices: map[int64]struct{}{}, assets: map[int64]struct{}{}}
	if s != nil {
		n.org = s.org
		for id := range s.devices {
			n.devices[id] = struct{}{}
		}
		for id := range s.assets {
			n.assets[id] = struct{}{}
		}
	}
	set := func(m map[int64]struct{}, id int64) {
		if add {
			m[id] = struct{}{}
		} else {
			delete(m, id)
		}
	}
	switch {
	case m.Org:
		n.org = add
	case m.DeviceID != 0:
		set(n.devices, m.DeviceID)
	case m.AssetID != 0:
		set(n.assets, m.AssetID)
	}
	return n
}

// snapshot returns the online devices that the subscription m covers.
func (c *client) snapshot(ctx context.Context, m clientMessage) []int64 {
	if c.hub.cfg.Presence == nil {
		return nil
	}
	online, err := c.hub.cfg.Presence.Online(ctx, c.orgID, c.hub.cfg.Now())
	if err != nil {
		c.hub.log.Error("ws: presence snapshot", "org_id", c.orgID, "err", err)
		return nil
	}
	switch {
	case m.Org:
		return online
	case m.DeviceID != 0:
		if slices.Contains(online, m.DeviceID) {
			return []int64{m.DeviceID}
		}
		return nil
	}
	var ids []int64
	for _, id := range online {
		asset, err := c.hub.cfg.Devices(ctx, c.orgID, id)
		if err == nil && asset == m.AssetID {
			ids = append(ids, id)
		}
	}
	return ids
}

// writeLoop writes the queued messages and returns when the queue is
// empty; once the client is closing it sends the close frame instead, and
// stays the last writer.
func (c *client) writeLoop() {
	defer c.writers.Done()
	for {
		c.mu.Lock()
		if c.closed {
			c.queue = nil
			c.mu.Unlock()
			c.finish()
			return
		}
		if len(c.queue) == 0 {
			c.queue = nil // an idle client keeps no buffer
			c.writing = false
			c.mu.Unlock()
			return
		}
		msg := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		if err := c.write(msg); err != nil {
			c.drop() // writing stays true: no other writer starts
			return
		}
	}
}

func (c *client) write(msg []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.WriteTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	c.hub.metrics.sent.Inc()
	return nil
}

// finish sends the last message, if any, and the close frame. coder's Close
// bounds the handshake; Stop's forced drop cuts it short.
func (c *client) finish() {
	if c.closeMsg != nil {
		if err := c.write(c.closeMsg); err != nil {
			c.drop()
			return
		}
	}
	c.conn.Close(c.closeCode, c.closeReason)
	c.drop()
}

// drop closes the connection without a handshake; the reader's Read
// fails and the handler returns.
func (c *client) drop() {
	c.cancel()
	c.conn.CloseNow()
}
