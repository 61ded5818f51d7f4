package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// This file holds the parts of the BlueZ radio (radio_bluez.go, built with
// the bluez tag on Linux) that need no adapter, so they are compiled and
// tested in every build.

// radioProfile is where the VibeMon characteristics sit in the list a GATT
// discovery returned: indexes into that list, -1 for an optional one the
// node does not have.
type radioProfile struct {
	DeviceInfo, Telemetry, Control int
	// OTAControl and OTAData are both present (a node with OTA) or both -1.
	OTAControl, OTAData int
}

// HasOTA says whether the node exposes both OTA characteristics.
func (p radioProfile) HasOTA() bool { return p.OTAControl >= 0 && p.OTAData >= 0 }

// errProfile is returned for a service that lacks a required characteristic.
var errProfile = errors.New("gateway: the node's VibeMon service lacks a characteristic (wrong firmware, or BlueZ's GATT cache is stale: remove the device in bluetoothctl and pair again)")

// pickProfile finds the VibeMon characteristics among the UUIDs a
// discovery of the VibeMon service returned (any case, with or without
// braces). Device Info, Telemetry and Control are required; the OTA pair is
// optional but taken only when both are there. The first of duplicates wins.
func pickProfile(uuids []string) (radioProfile, error) {
	p := radioProfile{-1, -1, -1, -1, -1}
	slots := map[string]*int{
		wire.DeviceInfoUUID: &p.DeviceInfo, wire.TelemetryUUID: &p.Telemetry, wire.ControlUUID: &p.Control,
		wire.OTAControlUUID: &p.OTAControl, wire.OTADataUUID: &p.OTAData,
	}
	for i, u := range uuids {
		if s, ok := slots[normUUID(u)]; ok && *s < 0 {
			*s = i
		}
	}
	var missing []string
	for name, i := range map[string]int{"Device Info": p.DeviceInfo, "Telemetry": p.Telemetry, "Control": p.Control} {
		if i < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return radioProfile{-1, -1, -1, -1, -1}, fmt.Errorf("%w (missing: %s)", errProfile, strings.Join(missing, ", "))
	}
	if !p.HasOTA() {
		p.OTAControl, p.OTAData = -1, -1
	}
	return p, nil
}

func normUUID(u string) string { return strings.ToLower(strings.Trim(strings.TrimSpace(u), "{}")) }

// advertisesVibeMon says whether a scan result's service UUIDs include the
// VibeMon service.
func advertisesVibeMon(uuids []string) bool {
	for _, u := range uuids {
		if normUUID(u) == wire.ServiceUUID {
			return true
		}
	}
	return false
}

// payloadMTU turns the ATT MTU BlueZ reports for a characteristic into the
// notification payload the gateway uses (ATT MTU − 3), within
// [wire.MinMTUPayload, wire.MaxPacket]. When the MTU cannot be read (BlueZ
// too old to have the MTU property, or the read failed) it is the default
// ATT MTU's 20 bytes: always safe, only OTA chunks get smaller.
func payloadMTU(attMTU int, err error) int {
	if err != nil || attMTU <= 0 {
		return wire.MinMTUPayload
	}
	return min(max(attMTU-3, wire.MinMTUPayload), wire.MaxPacket)
}

// linkError maps an error of a GATT operation to ErrDisconnected (wrapped,
// with the cause) when the link is gone, and leaves it as it was when the
// link is still up (the node rejected the operation).
func linkError(op string, err error, connected bool) error {
	if err == nil {
		return nil
	}
	if !connected {
		return fmt.Errorf("%s: %w (%v)", op, ErrDisconnected, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// notifyQueue carries notifications from the Bluetooth stack's callback
// (which must not block: it runs on the D-Bus signal goroutine) to the
// session. It holds up to its capacity; a notification that finds it full is
// dropped and counted, as a radio loses one (the completeness check replays
// summaries; the CRC catches a packet missing a fragment). Close closes the
// channel once; a push after Close is ignored, never a panic.
type notifyQueue struct {
	mu      sync.Mutex
	ch      chan []byte
	closed  bool
	dropped int
}

func newNotifyQueue(capacity int) *notifyQueue {
	return &notifyQueue{ch: make(chan []byte, capacity)}
}

// push copies b (the stack may reuse its buffer) and queues it; false when
// it was dropped (full) or the queue is closed.
func (q *notifyQueue) push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	select {
	case q.ch <- append([]byte(nil), b...):
		return true
	default:
		q.dropped++
		return false
	}
}

// C is the channel the session reads; closed by Close after what was queued.
func (q *notifyQueue) C() <-chan []byte { return q.ch }

// Dropped counts the notifications lost because the queue was full.
func (q *notifyQueue) Dropped() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Close closes the channel; safe twice and concurrently with push.
func (q *notifyQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}

// scanSeen collects the VibeMon nodes of one scan window and the RSSI each
// advertised with, so Connect can report it.
type scanSeen struct {
	addrs []string
	rssi  map[string]int
}

// add records a scan result; results for other services are ignored and a
// node seen twice is listed once (its latest RSSI kept).
func (s *scanSeen) add(addr string, rssi int, uuids []string) {
	if !advertisesVibeMon(uuids) {
		return
	}
	if s.rssi == nil {
		s.rssi = map[string]int{}
	}
	if _, ok := s.rssi[addr]; !ok {
		s.addrs = append(s.addrs, addr)
	}
	s.rssi[addr] = rssi
}

// scanAdapter is the part of the Bluetooth adapter a scanner drives, as
// tinygo.org/x/bluetooth's Adapter behaves on Linux: Scan blocks, calling
// the callback on its own goroutine for each advertisement (and once for
// each connected device), until StopScan; StopScan must be called from
// inside that callback, because the adapter keeps its scan state without a
// lock (a StopScan from another goroutine is a data race).
type scanAdapter interface {
	Scan(callback func(addr string, rssi int, uuids []string)) error
	StopScan() error
}

// scanner turns the adapter's one long-running scan into scan windows
// without ever calling StopScan outside the scan callback:
//
//   - Scan opens a window, starts a discovery if none runs, and returns
//     what was heard during the window (window length, or ctx).
//   - A discovery is stopped by its own callback, at the first
//     advertisement heard once it has run for a window; while a window is
//     open a new discovery starts at once (BlueZ signals a known device
//     again only on a property change, so a fresh discovery per window
//     hears every advertising node anew).
//   - When nothing advertises, no callback comes and nothing can stop the
//     discovery safely: it keeps running, and the next Scan joins it. The
//     first advertisement then stops it. So a gateway with no node in
//     range keeps BlueZ discovering; BlueZ ends the discovery when the
//     process leaves the D-Bus.
type scanner struct {
	a      scanAdapter
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	running bool          // a discovery goroutine runs
	started time.Time     // when the current discovery started
	cur     *scanSeen     // the open window, nil between windows
	ended   chan struct{} // closed when the discovery goroutine exits
	err     error         // why it exited (nil: stopped between windows)
}

func newScanner(a scanAdapter, window time.Duration) *scanner {
	return &scanner{a: a, window: window, now: time.Now}
}

// Scan listens for one window (or until ctx ends) and returns the VibeMon
// nodes heard, with their RSSI; an error when the discovery failed.
func (s *scanner) Scan(ctx context.Context) (scanSeen, error) {
	s.mu.Lock()
	seen := &scanSeen{}
	s.cur = seen
	if !s.running {
		s.running, s.err = true, nil
		s.ended = make(chan struct{})
		go s.discover(s.ended)
	}
	ended := s.ended
	s.mu.Unlock()
	t := time.NewTimer(s.window)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-ended:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	var err error
	select {
	case <-ended:
		err = s.err
	default:
	}
	return *seen, err
}

// discover runs discoveries on the adapter while a window is open.
func (s *scanner) discover(ended chan struct{}) {
	for {
		s.mu.Lock()
		s.started = s.now()
		s.mu.Unlock()
		err := s.a.Scan(s.heard)
		s.mu.Lock()
		// Restart only a discovery our callback stopped (it ran a window)
		// while a window is open; anything else ends the goroutine, so a
		// Scan that returns at once cannot spin.
		if err == nil && s.cur != nil && s.now().Sub(s.started) >= s.window {
			s.mu.Unlock()
			continue
		}
		s.running, s.err = false, err
		close(ended)
		s.mu.Unlock()
		return
	}
}

// heard is the scan callback, on the adapter's scan goroutine: the one
// place StopScan may be called.
func (s *scanner) heard(addr string, rssi int, uuids []string) {
	s.mu.Lock()
	if s.cur != nil {
		s.cur.add(addr, rssi, uuids)
	}
	stop := s.now().Sub(s.started) >= s.window
	s.mu.Unlock()
	if stop {
		s.a.StopScan()
	}
}
