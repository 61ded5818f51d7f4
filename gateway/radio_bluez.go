//go:build bluez && linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vibemon/vibemon/wire"
	"tinygo.org/x/bluetooth"
)

// This file is the BLE central over BlueZ's D-Bus API through
// tinygo.org/x/bluetooth. It is compiled and vetted in CI (go vet -tags
// bluez) but has not been run against a Bluetooth adapter: see
// docs/gateway.md. What can be tested without an adapter is in radiolink.go.

const (
	// radioScanWindow is how long one Scan listens for advertisements.
	radioScanWindow = 3 * time.Second
	// radioWatchEvery is how often a connection polls BlueZ's Connected
	// property (tinygo's BlueZ central reports no remote disconnects).
	radioWatchEvery = time.Second
	// radioQueueLen is the notifications held for the session while it
	// writes to the queue; a full queue drops like the radio would.
	radioQueueLen = 1024
)

// NewRadio returns the Central of the host's first Bluetooth adapter
// (hci0) through BlueZ. bluetoothd must run and the process must be
// allowed on the system D-Bus to talk to org.bluez (root, or a member of
// the bluetooth group on Debian/Ubuntu). Nodes must be bonded to the
// adapter first (docs/gateway.md, "Radio").
func NewRadio() (Central, error) {
	a := bluetooth.DefaultAdapter
	if err := a.Enable(); err != nil {
		return nil, fmt.Errorf("gateway: enable the Bluetooth adapter (is bluetoothd running, and may this user use org.bluez on the system D-Bus?): %w", err)
	}
	svc, err := bluetooth.ParseUUID(wire.ServiceUUID)
	if err != nil {
		return nil, err
	}
	return &radio{a: a, svc: svc, sc: newScanner(tinygoScan{a}, radioScanWindow), rssi: map[string]int{}}, nil
}

type radio struct {
	a    *bluetooth.Adapter
	svc  bluetooth.UUID
	sc   *scanner
	mu   sync.Mutex
	rssi map[string]int // last advertised RSSI per address
}

// tinygoScan is the adapter as the scanner drives it (radiolink.go).
type tinygoScan struct{ a *bluetooth.Adapter }

func (t tinygoScan) Scan(cb func(addr string, rssi int, uuids []string)) error {
	return t.a.Scan(func(_ *bluetooth.Adapter, res bluetooth.ScanResult) {
		uuids := res.ServiceUUIDs()
		s := make([]string, len(uuids))
		for i, u := range uuids {
			s[i] = u.String()
		}
		cb(res.Address.String(), int(res.RSSI), s)
	})
}

func (t tinygoScan) StopScan() error { return t.a.StopScan() }

// Scan implements Central: it listens for radioScanWindow (or until ctx
// ends) and returns the nodes that advertised the VibeMon service. The
// adapter's scan is only ever stopped from its own callback (scanner, in
// radiolink.go): tinygo's StopScan touches the adapter's scan state without
// a lock, so calling it from another goroutine would be a data race.
func (r *radio) Scan(ctx context.Context) ([]string, error) {
	seen, err := r.sc.Scan(ctx)
	r.mu.Lock()
	for a, v := range seen.rssi {
		r.rssi[a] = v
	}
	r.mu.Unlock()
	if err != nil {
		return seen.addrs, fmt.Errorf("gateway: BLE scan: %w", err)
	}
	return seen.addrs, nil
}

// Connect implements Central: connect, discover the VibeMon service and
// its characteristics, subscribe to Telemetry (and OTA Control when the
// node has OTA).
func (r *radio) Connect(ctx context.Context, addr string) (Conn, error) {
	mac, err := bluetooth.ParseMAC(addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: address %q: %w", addr, err)
	}
	// tinygo's Connect takes no context and waits for BlueZ: run it aside
	// and give up on ctx (BlueZ's own connect timeout ends it).
	type result struct {
		d   bluetooth.Device
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := r.a.Connect(bluetooth.Address{MACAddress: bluetooth.MACAddress{MAC: mac}}, bluetooth.ConnectionParams{})
		res <- result{d, err}
	}()
	var d bluetooth.Device
	select {
	case x := <-res:
		if x.err != nil {
			return nil, fmt.Errorf("%w: connect %s: %v", ErrDisconnected, addr, x.err)
		}
		d = x.d
	case <-ctx.Done():
		go func() {
			if x := <-res; x.err == nil {
				x.d.Disconnect()
			}
		}()
		return nil, ctx.Err()
	}
	c, err := r.setup(d)
	if err != nil {
		d.Disconnect()
		return nil, err
	}
	r.mu.Lock()
	c.rssi = r.rssi[addr]
	r.mu.Unlock()
	go c.watch()
	return c, nil
}

func (r *radio) setup(d bluetooth.Device) (*radioConn, error) {
	svcs, err := d.DiscoverServices([]bluetooth.UUID{r.svc})
	if err != nil {
		return nil, fmt.Errorf("%w: discover the VibeMon service: %v", ErrDisconnected, err)
	}
	chars, err := svcs[0].DiscoverCharacteristics(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: discover characteristics: %v", ErrDisconnected, err)
	}
	uuids := make([]string, len(chars))
	for i, ch := range chars {
		uuids[i] = ch.UUID().String()
	}
	p, err := pickProfile(uuids)
	if err != nil {
		return nil, err
	}
	c := &radioConn{d: d, info: chars[p.DeviceInfo], tele: chars[p.Telemetry], ctrl: chars[p.Control],
		notes: newNotifyQueue(radioQueueLen), otaNotes: newNotifyQueue(64), closed: make(chan struct{})}
	// The ATT MTU BlueZ negotiated at connection; 20 when it cannot say.
	mtu, err := c.tele.GetMTU()
	c.mtu = payloadMTU(int(mtu), err)
	// Telemetry's CCCD needs an encrypted link: on a bonded node BlueZ
	// encrypts with the stored key; on an unbonded one this fails.
	if err := c.tele.EnableNotifications(func(b []byte) { c.notes.push(b) }); err != nil {
		// A failed StartNotify leaves tinygo's signal channel registered:
		// unregister it, or D-Bus signals pile up for it.
		c.tele.EnableNotifications(nil)
		c.notes.Close()
		c.otaNotes.Close()
		return nil, linkError("subscribe to Telemetry (is the node bonded? see docs/gateway.md)", err, c.connected())
	}
	if p.HasOTA() {
		c.otaCtl, c.otaData, c.ota = chars[p.OTAControl], chars[p.OTAData], true
		if err := c.otaCtl.EnableNotifications(func(b []byte) { c.otaNotes.push(b) }); err != nil {
			c.otaCtl.EnableNotifications(nil)
			c.ota = false // the session runs without OTA
		}
	}
	return c, nil
}

// radioConn is one BlueZ connection.
type radioConn struct {
	d                bluetooth.Device
	info, tele, ctrl bluetooth.DeviceCharacteristic
	otaCtl, otaData  bluetooth.DeviceCharacteristic
	ota              bool // OTA characteristics found and subscribed
	notes, otaNotes  *notifyQueue
	mtu, rssi        int
	closed           chan struct{}
	once             sync.Once
}

func (c *radioConn) connected() bool {
	ok, err := c.d.Connected()
	return err == nil && ok
}

// watch closes the notification channels when BlueZ says the link is
// gone, or when Close runs.
func (c *radioConn) watch() {
	t := time.NewTicker(radioWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			if !c.connected() {
				c.Close()
				return
			}
		}
	}
}

// Close implements Conn: unsubscribes, disconnects and closes the
// notification channels; safe twice.
func (c *radioConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		c.tele.EnableNotifications(nil)
		if c.ota {
			c.otaCtl.EnableNotifications(nil)
		}
		err = c.d.Disconnect()
		c.notes.Close()
		c.otaNotes.Close()
		if err != nil && !c.connected() {
			err = nil // it was gone already
		}
	})
	return err
}

// do runs a blocking GATT call aside so ctx can end the wait (the D-Bus
// call itself cannot be cancelled and finishes in the background), and
// maps a failure on a lost link to ErrDisconnected.
func (c *radioConn) do(ctx context.Context, op string, fn func() error) error {
	select {
	case <-c.closed:
		return fmt.Errorf("%s: %w", op, ErrDisconnected)
	default:
	}
	res := make(chan error, 1)
	go func() { res <- fn() }()
	select {
	case err := <-res:
		if err != nil && !c.connected() {
			c.Close()
			return linkError(op, err, false)
		}
		return linkError(op, err, true)
	case <-c.closed:
		return fmt.Errorf("%s: %w", op, ErrDisconnected)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadDeviceInfo implements Conn.
func (c *radioConn) ReadDeviceInfo(ctx context.Context) ([]byte, error) {
	buf := make([]byte, wire.MaxPacket)
	var n int
	err := c.do(ctx, "read Device Info", func() (err error) {
		n, err = c.info.Read(buf)
		return err
	})
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// WriteControl implements Conn: a write with response.
func (c *radioConn) WriteControl(ctx context.Context, cmd []byte) error {
	b := append([]byte(nil), cmd...)
	return c.do(ctx, "write Control", func() error { _, err := c.ctrl.Write(b); return err })
}

// Notifications implements Conn.
func (c *radioConn) Notifications() <-chan []byte { return c.notes.C() }

// MTU implements Conn.
func (c *radioConn) MTU() int { return c.mtu }

// RSSI implements Conn: the RSSI of the node's last advertisement seen by
// a scan (BlueZ gives no RSSI of a connection through this API).
func (c *radioConn) RSSI() int { return c.rssi }

var errNoOTA = errors.New("gateway: the node has no OTA characteristics")

// WriteOTAControl implements OTAConn: a write with response.
func (c *radioConn) WriteOTAControl(ctx context.Context, cmd []byte) error {
	if !c.ota {
		return errNoOTA
	}
	b := append([]byte(nil), cmd...)
	return c.do(ctx, "write OTA Control", func() error { _, err := c.otaCtl.Write(b); return err })
}

// WriteOTAData implements OTAConn: a write without response.
func (c *radioConn) WriteOTAData(ctx context.Context, chunk []byte) error {
	if !c.ota {
		return errNoOTA
	}
	b := append([]byte(nil), chunk...)
	return c.do(ctx, "write OTA Data", func() error { _, err := c.otaData.WriteWithoutResponse(b); return err })
}

// OTANotifications implements OTAConn.
func (c *radioConn) OTANotifications() <-chan []byte { return c.otaNotes.C() }

var _ OTAConn = (*radioConn)(nil)
