package blelink

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/wire"
)

// Clock is simulated time running Speed times faster than real time from
// Start. It is safe for concurrent use.
type Clock struct {
	start time.Time // virtual
	real  time.Time
	speed float64
}

// NewClock returns a clock at start running speed times real time (speed
// <= 0 means 1).
func NewClock(start time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{start: start, real: time.Now(), speed: speed}
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.real)) * c.speed))
}

// Speed returns simulated seconds per real second.
func (c *Clock) Speed() float64 { return c.speed }

// FleetConfig configures a Fleet. The zero value means the defaults named.
type FleetConfig struct {
	// Nodes is how many nodes; defaults to 1.
	Nodes int
	// Interval between summaries; defaults to 60 s. Window is the samples
	// per summary; defaults to 1024, or 512 when Interval is under 2 s.
	Interval time.Duration
	Window   int
	// RingCapacity is each node's buffer of unsent summaries; defaults to
	// the firmware's 1440.
	RingCapacity int
	// Timeouts are the nodes' state timers; zero fields take the
	// firmware's defaults (5 min radio sleep after a disconnect).
	Timeouts fw.Timeouts
	// Physics feeds each node's accelerometer from sim's signal model
	// through a simulated MPU6050; false uses a cheap sine and noise.
	Physics bool
	// Link is every node's radio.
	Link LinkConfig
	// Seed makes serials, signals and link faults repeatable.
	Seed uint64
	// Clock is the simulated time; nil means real time.
	Clock *Clock
	// OTAKey is the release key the nodes verify firmware images with;
	// nil: the nodes have no OTA (DeviceInfo without CapOTA).
	OTAKey ed25519.PublicKey
	// Firmware is the version the nodes run first; defaults to 1.0.0.
	Firmware [3]uint8
}

// Fleet runs simulated nodes (the real firmware core on simulated sensors)
// and is the gateway.Central that reaches them over in-memory links.
type Fleet struct {
	cfg   FleetConfig
	clock *Clock
	nodes []*SimNode
	byAdr map[string]*SimNode

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  struct{ dropped, reordered, disconnects, otaDropped atomic.Int64 }
}

// LinkStats counts the faults the links injected.
type LinkStats struct {
	Dropped, Reordered, Disconnects int64
	// OTADropped counts the OTA status packets lost (LinkConfig.DropOTA).
	OTADropped int64
}

// Stats returns the faults injected so far, over all nodes.
func (f *Fleet) Stats() LinkStats {
	return LinkStats{f.stats.dropped.Load(), f.stats.reordered.Load(), f.stats.disconnects.Load(), f.stats.otaDropped.Load()}
}

// NewFleet builds the nodes; Start runs them.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Interval < time.Second || cfg.Interval%time.Second != 0 {
		return nil, fmt.Errorf("blelink: FleetConfig.Interval %s is not a whole number of seconds >= 1 s", cfg.Interval)
	}
	if cfg.Window == 0 {
		cfg.Window = 1024
		if cfg.Interval < 2*time.Second {
			cfg.Window = 512
		}
	}
	cfg.Link = cfg.Link.withDefaults()
	if cfg.Link.MTU < wire.MinMTUPayload || cfg.Link.MTU > wire.MaxPacket {
		return nil, fmt.Errorf("blelink: LinkConfig.MTU %d is not in %d..%d", cfg.Link.MTU, wire.MinMTUPayload, wire.MaxPacket)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = NewClock(time.Now(), 1)
	}
	f := &Fleet{cfg: cfg, clock: clock, byAdr: map[string]*SimNode{}}
	for i := range cfg.Nodes {
		n, err := newSimNode(f, i)
		if err != nil {
			return nil, err
		}
		f.nodes = append(f.nodes, n)
		f.byAdr[n.addr] = n
	}
	return f, nil
}

// Nodes returns the simulated nodes.
func (f *Fleet) Nodes() []*SimNode { return f.nodes }

// Clock returns the fleet's clock.
func (f *Fleet) Clock() *Clock { return f.clock }

// SetLink changes every node's link faults from now on (open connections
// keep their delay).
func (f *Fleet) SetLink(cfg LinkConfig) {
	cfg = cfg.withDefaults()
	for _, n := range f.nodes {
		n.link.mu.Lock()
		n.link.cfg = cfg
		n.link.mu.Unlock()
	}
}

// Start runs every node on its own goroutine until ctx ends or Stop.
func (f *Fleet) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		return errors.New("blelink: fleet started twice")
	}
	ctx, f.cancel = context.WithCancel(ctx)
	for _, n := range f.nodes {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); n.loop(ctx) }()
	}
	return nil
}

// Stop ends the nodes (a power-off; their stores survive). Safe twice.
func (f *Fleet) Stop() {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// Scan implements gateway.Central: the nodes advertising now.
func (f *Fleet) Scan(ctx context.Context) ([]string, error) {
	var out []string
	for _, n := range f.nodes {
		if n.link.advertising() {
			out = append(out, n.addr)
		}
	}
	return out, ctx.Err()
}

// Connect implements gateway.Central.
func (f *Fleet) Connect(ctx context.Context, addr string) (gateway.Conn, error) {
	n := f.byAdr[addr]
	if n == nil {
		return nil, fmt.Errorf("connect %s: %w", addr, gateway.ErrDisconnected)
	}
	var c *conn
	err := n.call(ctx, nil, func(node *fw.Node) error {
		l := n.link
		l.mu.Lock()
		if l.conn != nil && !l.conn.isClosed() {
			l.mu.Unlock()
			node.CentralRejected(1)
			return errBusy
		}
		if l.adv == fw.AdvOff {
			l.mu.Unlock()
			return errNotAdv
		}
		n.conns++
		c = newConn(n, l.cfg, f.cfg.Seed^uint64(n.index)<<20^uint64(n.conns))
		l.conn = c
		l.mu.Unlock()
		node.Step() // the connection edge: the node leaves advertising
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w: %w", addr, gateway.ErrDisconnected, err)
	}
	return c, nil
}

var _ gateway.Central = (*Fleet)(nil)

// SimNode is one simulated node: the firmware core with a simulated
// sensor, a memory store (its flash) and an in-memory link.
type SimNode struct {
	f      *Fleet
	index  int
	addr   string
	serial [8]byte
	link   *link
	store  *recStore
	sensor *simSensor
	boot   *simBoot // flash partitions, across reboots
	inbox  chan request
	wake   chan struct{}
	conns  uint64 // node goroutine (inside call) only

	mu        sync.Mutex
	produced  map[uint32]time.Time // seq -> the simulated time the node measured it at
	bootAt    time.Time            // simulated time the current core started
	onOTAData func(next uint32)
}

type request struct {
	c    *conn // nil: not bound to a connection
	fn   func(*fw.Node) error
	done chan error
}

func newSimNode(f *Fleet, i int) (*SimNode, error) {
	n := &SimNode{f: f, index: i, inbox: make(chan request), wake: make(chan struct{}, 1), produced: map[uint32]time.Time{}}
	binary.BigEndian.PutUint64(n.serial[:], f.cfg.Seed<<24^0x5600_0000_0000_0000^uint64(i+1))
	n.addr = "sim:" + hex.EncodeToString(n.serial[:])
	n.link = &link{cfg: f.cfg.Link, rng: rand.New(rand.NewPCG(f.cfg.Seed, uint64(i)))}
	n.store = &recStore{MemStore: fw.NewMemStore(), n: n}
	n.sensor = newSimSensor(f, i)
	n.boot = &simBoot{running: f.cfg.Firmware}
	if n.boot.running == ([3]uint8{}) {
		n.boot.running = [3]uint8{1, 0, 0}
	}
	return n, nil
}

// Addr returns the node's address, as Scan lists it.
func (n *SimNode) Addr() string { return n.addr }

// Serial returns the node's serial as the gateway names it (16 hex digits).
func (n *SimNode) Serial() string { return hex.EncodeToString(n.serial[:]) }

// Produced returns the sequence numbers of every summary the node made,
// sorted: the ground truth a test compares the server with.
func (n *SimNode) Produced() []uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]uint32, 0, len(n.produced))
	for s := range n.produced {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// MeasuredAt returns the simulated time summary seq was measured at, as the
// node stamped it (its boot time plus uptime until a central set its
// clock); false if the node never made it.
func (n *SimNode) MeasuredAt(seq uint32) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.produced[seq]
	return t, ok
}

// Disconnect breaks the node's link now, as a radio drop-out would.
func (n *SimNode) Disconnect() {
	if c := n.link.current(); c != nil {
		c.Close()
	}
}

func (n *SimNode) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// call runs fn on the node's goroutine; bound to c, it fails once c is
// closed.
func (n *SimNode) call(ctx context.Context, c *conn, fn func(*fw.Node) error) error {
	r := request{c: c, fn: fn, done: make(chan error, 1)}
	var closed <-chan struct{}
	if c != nil {
		closed = c.closed
	}
	select {
	case n.inbox <- r:
	case <-closed:
		return gateway.ErrDisconnected
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *SimNode) newNode(reset wire.ResetReason) (*fw.Node, error) {
	version, why := n.boot.boot()
	if reset != wire.ResetPowerOn {
		reset = why
	}
	cfg := fw.Config{Interval: n.f.cfg.Interval, Window: n.f.cfg.Window, RingCapacity: n.f.cfg.RingCapacity,
		Timeouts: n.f.cfg.Timeouts, Firmware: version, Hardware: wire.HardwareSim, Serial: n.serial,
		Now: n.f.clock.Now, MaxBurst: 4096}
	hw := fw.Hardware{Sensor: n.sensor, Link: n.link, Store: n.store}
	if n.f.cfg.OTAKey != nil {
		hw.Slot, hw.Boot, hw.Verifier = n.boot, n.boot, fw.Ed25519Verifier{PublicKey: n.f.cfg.OTAKey}
	}
	n.mu.Lock()
	n.bootAt = n.f.clock.Now()
	n.mu.Unlock()
	return fw.NewNode(cfg, hw, reset)
}

// loop steps the node as its board's main loop would, sleeping (in
// simulated time) as Step asks, waking for the central's requests.
func (n *SimNode) loop(ctx context.Context) {
	node, err := n.newNode(wire.ResetPowerOn)
	if err != nil {
		return
	}
	defer n.Disconnect()
	t := time.NewTimer(0)
	defer t.Stop()
	speed := n.f.clock.Speed()
	for {
		next := node.Step()
		if next.IsZero() { // rebooting: a new core on the same flash
			n.Disconnect()
			if node, err = n.newNode(wire.ResetSoftware); err != nil {
				return
			}
			continue
		}
		d := time.Duration(float64(next.Sub(n.f.clock.Now())) / speed)
		d = min(max(d, 0), time.Second)
		t.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		case r := <-n.inbox:
			if r.c != nil && r.c.isClosed() {
				r.done <- gateway.ErrDisconnected
			} else {
				r.done <- r.fn(node)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// recStore is the node's flash; it records every summary the ring
// stores, the ground truth of what the node measured.
type recStore struct {
	*fw.MemStore
	n *SimNode
}

func (s *recStore) Put(key uint16, val []byte) error {
	if key >= fw.KeyRingSlot && len(val) == wire.SummaryPacketLen {
		var h wire.Header
		if _, err := wire.DecodeHeader(val, &h); err == nil {
			s.n.mu.Lock()
			at := time.UnixMilli(int64(h.Time))
			if h.Flags&wire.FlagUptime != 0 {
				at = s.n.bootAt.Add(time.Duration(h.Time) * time.Millisecond)
			}
			if _, seen := s.n.produced[h.Seq]; !seen { // a replayed slot keeps its first time
				s.n.produced[h.Seq] = at
			}
			s.n.mu.Unlock()
		}
	}
	return s.MemStore.Put(key, val)
}

// Name returns a readable name for logs.
func (n *SimNode) Name() string { return wire.DefaultLocalName + strconv.Itoa(n.index) }
