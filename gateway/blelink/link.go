package blelink

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/wire"
)

// LinkConfig is the radio between a node and the central: its MTU and its
// faults. The zero value is a perfect link at the largest MTU.
type LinkConfig struct {
	// MTU is the notification payload, bytes: 244 (LE data length
	// extension) or 20 (the default ATT MTU: packets are fragmented).
	// Defaults to 244.
	MTU int
	// Drop is the probability that a notification is lost.
	Drop float64
	// Reorder is the probability that a notification is held back and
	// delivered after the next one.
	Reorder float64
	// Delay is the most a notification waits (real time, uniform) before
	// delivery.
	Delay time.Duration
	// DropEvents loses every event packet (all of its fragments), so a
	// test can lose exactly a node's reports and nothing else.
	DropEvents bool
	// DropOTA is the probability that an OTA status packet (all of its
	// fragments) on OTA Control is lost; counted in LinkStats.OTADropped.
	DropOTA float64
	// Disconnect is the probability that the link breaks right after a
	// notification; what is still in flight is lost, as in a radio.
	Disconnect float64
	// QueueLen is how many notifications may be in flight before Notify
	// fails with "queue full" (the node retries). Defaults to 64.
	QueueLen int
}

func (c LinkConfig) withDefaults() LinkConfig {
	if c.MTU <= 0 {
		c.MTU = wire.MaxPacket
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 64
	}
	return c
}

var (
	errNotConnected = errors.New("blelink: not connected")
	errQueueFull    = errors.New("blelink: notification queue full")
	errBusy         = errors.New("blelink: node already has a central")
	errNotAdv       = errors.New("blelink: node is not advertising")
)

// link is the node side (firmware.Link) of one node's radio. Its methods
// run on the node's goroutine, except where noted.
type link struct {
	mu   sync.Mutex
	adv  fw.AdvMode
	conn *conn
	cfg  LinkConfig
	rng  *rand.Rand
}

func (l *link) current() *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil && l.conn.isClosed() {
		l.conn = nil
	}
	return l.conn
}

// Connected implements firmware.Link.
func (l *link) Connected() bool { return l.current() != nil }

// MTU implements firmware.Link.
func (l *link) MTU() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.MTU
}

// Bonded implements firmware.Link: simulated nodes come bonded to the
// gateway.
func (l *link) Bonded() bool { return true }

// Advertise implements firmware.Link.
func (l *link) Advertise(m fw.AdvMode) error {
	l.mu.Lock()
	l.adv = m
	l.mu.Unlock()
	return nil
}

func (l *link) advertising() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.adv != fw.AdvOff && (l.conn == nil || l.conn.isClosed())
}

// Notify implements firmware.Link with the configured faults.
func (l *link) Notify(ch wire.Char, b []byte) error {
	c := l.current()
	if c == nil {
		return errNotConnected
	}
	if ch == wire.CharOTAControl {
		if c.otaRemaining == 0 { // a new packet: lose it whole, or not at all
			l.mu.Lock()
			c.otaDrop = l.cfg.DropOTA > 0 && l.rng.Float64() < l.cfg.DropOTA // no draw otherwise: other faults keep their sequence
			l.mu.Unlock()
			c.otaRemaining = max(wire.PacketLen(b), len(b))
			if c.otaDrop {
				c.n.f.stats.otaDropped.Add(1)
			}
		}
		c.otaRemaining = max(0, c.otaRemaining-len(b))
		if !c.otaDrop {
			c.notifyOTA(b)
		}
		return nil
	}
	if ch != wire.CharTelemetry {
		return nil
	}
	l.mu.Lock()
	cfg := l.cfg
	drop, reorder, disc := l.rng.Float64(), l.rng.Float64(), l.rng.Float64()
	l.mu.Unlock()
	// Room is reserved per packet, not per fragment: the firmware resends
	// a whole packet after an error, so failing mid-packet would put a
	// partial packet on the air (see docs/gateway.md).
	if c.remaining == 0 {
		need := 2 + (wire.PacketLen(b)+cfg.MTU-1)/cfg.MTU
		if cap(c.mid)-len(c.mid) < need {
			return errQueueFull
		}
		c.remaining = max(wire.PacketLen(b), len(b))
		c.dropPacket = cfg.DropEvents && len(b) > 1 && wire.Type(b[1]) == wire.TypeEvent
	}
	c.remaining = max(0, c.remaining-len(b))
	p := append([]byte(nil), b...)
	st := &c.n.f.stats
	if c.dropPacket {
		st.dropped.Add(1)
		return nil
	}
	if drop < cfg.Drop {
		st.dropped.Add(1)
		return nil
	}
	if reorder < cfg.Reorder && c.held == nil {
		st.reordered.Add(1)
		c.held = p
		return nil
	}
	c.push(p)
	if c.held != nil {
		c.push(c.held)
		c.held = nil
	}
	if disc < cfg.Disconnect {
		st.disconnects.Add(1)
		c.Close()
	}
	return nil
}

// conn is one central connection: the gateway.Conn of the in-memory link.
type conn struct {
	n      *SimNode
	mid    chan []byte // node → pump
	out    chan []byte // pump → central
	otaOut chan []byte // OTA status notifications → central
	closed chan struct{}
	once   sync.Once
	held   []byte // reordered notification (node goroutine only)
	// remaining is the bytes of the packet being fragmented still to
	// come, and dropPacket whether all of them are lost (node goroutine
	// only).
	remaining  int
	dropPacket bool
	// otaRemaining and otaDrop are the same for the OTA status packet
	// being sent on OTA Control.
	otaRemaining int
	otaDrop      bool
	delay        time.Duration
	rng          *rand.Rand // pump only
	rssi         int
}

func newConn(n *SimNode, cfg LinkConfig, seed uint64) *conn {
	c := &conn{n: n, mid: make(chan []byte, cfg.QueueLen), out: make(chan []byte), otaOut: make(chan []byte, 64), closed: make(chan struct{}),
		delay: cfg.Delay, rng: rand.New(rand.NewPCG(seed, 7)), rssi: -55 - int(seed%30)}
	go c.pump()
	return c
}

func (c *conn) push(p []byte) {
	select {
	case c.mid <- p:
	default: // cannot happen: Notify checked the room
	}
}

// pump delivers notifications to the central, delayed as configured; it
// closes out when the link goes.
func (c *conn) pump() {
	defer close(c.out)
	for {
		select {
		case <-c.closed:
			return
		case p := <-c.mid:
			if c.delay > 0 {
				t := time.NewTimer(time.Duration(c.rng.Int64N(int64(c.delay) + 1)))
				select {
				case <-t.C:
				case <-c.closed:
					t.Stop()
					return
				}
			}
			select {
			case c.out <- p:
			case <-c.closed:
				return
			}
		}
	}
}

func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close implements gateway.Conn: either side may break the link.
func (c *conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.n.poke()
	})
	return nil
}

// Notifications implements gateway.Conn.
func (c *conn) Notifications() <-chan []byte { return c.out }

// MTU implements gateway.Conn.
func (c *conn) MTU() int { return c.n.link.MTU() }

// RSSI implements gateway.Conn.
func (c *conn) RSSI() int { return c.rssi }

// ReadDeviceInfo implements gateway.Conn.
func (c *conn) ReadDeviceInfo(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.n.call(ctx, c, func(n *fw.Node) error { out = n.DeviceInfo(nil); return nil })
	return out, err
}

// WriteControl implements gateway.Conn: the node runs the command on its
// own goroutine before the write returns (write with response).
func (c *conn) WriteControl(ctx context.Context, cmd []byte) error {
	b := append([]byte(nil), cmd...)
	return c.n.call(ctx, c, func(n *fw.Node) error { return n.HandleControl(b) })
}

var _ gateway.Conn = (*conn)(nil)
