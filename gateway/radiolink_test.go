package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// The BlueZ radio finds the characteristics by UUID in whatever order and
// case BlueZ lists them; a node without OTA still connects.
func TestRadioPicksTheProfileFromDiscoveredUUIDs(t *testing.T) {
	generic := "00002a00-0000-1000-8000-00805f9b34fb"
	all := []string{generic, strings.ToUpper(wire.OTADataUUID), wire.ControlUUID, "{" + wire.TelemetryUUID + "}",
		wire.DeviceInfoUUID, wire.OTAControlUUID, wire.TelemetryUUID}
	p, err := pickProfile(all)
	if err != nil {
		t.Fatal(err)
	}
	want := radioProfile{DeviceInfo: 4, Telemetry: 3, Control: 2, OTAControl: 5, OTAData: 1}
	if p != want || !p.HasOTA() {
		t.Fatalf("profile %+v, want %+v (first Telemetry wins)", p, want)
	}

	noOTA := []string{wire.DeviceInfoUUID, wire.TelemetryUUID, wire.ControlUUID, wire.OTADataUUID}
	p, err = pickProfile(noOTA)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasOTA() || p.OTAData != -1 || p.OTAControl != -1 {
		t.Fatalf("a node with OTA Data but no OTA Control must run without OTA: %+v", p)
	}
}

func TestRadioRefusesAServiceWithoutControl(t *testing.T) {
	_, err := pickProfile([]string{wire.DeviceInfoUUID, wire.TelemetryUUID, wire.OTAControlUUID, wire.OTADataUUID})
	if !errors.Is(err, errProfile) || !strings.Contains(err.Error(), "Control") || !strings.Contains(err.Error(), "bluetoothctl") {
		t.Fatalf("err = %v: must name the missing characteristic and what to do", err)
	}
	_, err = pickProfile(nil)
	if !strings.Contains(err.Error(), "missing: Control, Device Info, Telemetry") {
		t.Fatalf("err = %v", err)
	}
}

// A scan lists each node advertising the VibeMon service once, with its
// latest RSSI, and nothing else.
func TestRadioScanKeepsOnlyVibeMonNodes(t *testing.T) {
	var s scanSeen
	s.add("AA:00:00:00:00:01", -70, []string{"0000180f-0000-1000-8000-00805f9b34fb", strings.ToUpper(wire.ServiceUUID)})
	s.add("AA:00:00:00:00:02", -40, []string{"0000180f-0000-1000-8000-00805f9b34fb"}) // a phone
	s.add("AA:00:00:00:00:03", -80, nil)
	s.add("AA:00:00:00:00:01", -60, []string{wire.ServiceUUID})
	if len(s.addrs) != 1 || s.addrs[0] != "AA:00:00:00:00:01" || s.rssi["AA:00:00:00:00:01"] != -60 {
		t.Fatalf("addrs %v rssi %v", s.addrs, s.rssi)
	}
}

func TestRadioPayloadMTU(t *testing.T) {
	for _, c := range []struct {
		att  int
		err  error
		want int
	}{
		{247, nil, 244}, {23, nil, 20}, {517, nil, wire.MaxPacket}, {100, nil, 97},
		{0, nil, 20}, {10, nil, 20}, {247, errors.New("no MTU property"), 20},
	} {
		if got := payloadMTU(c.att, c.err); got != c.want {
			t.Errorf("payloadMTU(%d, %v) = %d, want %d", c.att, c.err, got, c.want)
		}
	}
}

// A failure on a lost link is ErrDisconnected (the session ends and the
// node is scanned for again); on a live link it is the node's rejection.
func TestRadioMapsLostLinkToErrDisconnected(t *testing.T) {
	cause := errors.New("org.bluez.Error.Failed: Not connected")
	if err := linkError("write Control", cause, false); !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "Not connected") {
		t.Fatalf("lost link: %v", err)
	}
	rejected := errors.New("org.bluez.Error.NotPermitted")
	if err := linkError("write Control", rejected, true); errors.Is(err, ErrDisconnected) || !errors.Is(err, rejected) {
		t.Fatalf("live link: %v", err)
	}
	if linkError("x", nil, false) != nil {
		t.Fatal("no error must stay no error")
	}
}

// The stack's callback never blocks and never panics: notifications are
// copied (BlueZ may reuse the buffer), a full queue drops and counts, and
// pushes racing with Close (a disconnect) are ignored; the channel delivers
// what was queued, then closes.
func TestRadioNotifyQueueFanInAndClose(t *testing.T) {
	q := newNotifyQueue(2)
	buf := []byte{1, 2, 3}
	if !q.push(buf) {
		t.Fatal("first push refused")
	}
	buf[0] = 9
	q.push([]byte{4})
	if q.push([]byte{5}) || q.Dropped() != 1 {
		t.Fatalf("full queue: dropped %d, want 1", q.Dropped())
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				q.push([]byte{7})
			}
		}()
	}
	q.Close()
	q.Close()
	wg.Wait()
	if q.push([]byte{6}) {
		t.Fatal("push after Close accepted")
	}
	var got [][]byte
	for b := range q.C() {
		got = append(got, b)
	}
	if len(got) != 2 || got[0][0] != 1 || got[1][0] != 4 {
		t.Fatalf("delivered %v, want [[1 2 3] [4]]", got)
	}
}

// fakeAdapter behaves like tinygo's Linux adapter: Scan blocks, calling
// back on its own goroutine for what is "on the air", until StopScan;
// its scan state has no lock, as tinygo's, so a StopScan from another
// goroutine is a data race that go test -race reports.
type fakeAdapter struct {
	cancel chan struct{} // tinygo's scanCancelChan: unguarded on purpose
	air    chan advert
	fail   error        // Scan fails at once with it
	scans  atomic.Int32 // discoveries started
}

type advert struct {
	addr  string
	rssi  int
	uuids []string
}

func (f *fakeAdapter) Scan(cb func(string, int, []string)) error {
	if f.fail != nil {
		return f.fail
	}
	if f.cancel != nil {
		return errors.New("already scanning")
	}
	c := make(chan struct{})
	f.cancel = c
	f.scans.Add(1)
	for {
		select {
		case <-c:
			return nil
		default:
		}
		select {
		case a := <-f.air:
			cb(a.addr, a.rssi, a.uuids)
		case <-c:
		}
	}
}

func (f *fakeAdapter) StopScan() error {
	if f.cancel == nil {
		return errors.New("not scanning")
	}
	close(f.cancel)
	f.cancel = nil
	return nil
}

// The scanner stops the adapter's scan only from its callback (the race
// detector would flag any other StopScan), starts a fresh discovery per
// window while nodes advertise, and each window reports the node.
func TestRadioScanStopsOnlyFromTheCallback(t *testing.T) {
	f := &fakeAdapter{air: make(chan advert)}
	done := make(chan struct{})
	defer close(done)
	go func() { // a node advertising every 2 ms, and a phone
		for i := 0; ; i++ {
			a := advert{"AA:00:00:00:00:01", -60 - i%5, []string{wire.ServiceUUID}}
			if i%2 == 1 {
				a = advert{"AA:00:00:00:00:09", -40, nil}
			}
			select {
			case f.air <- a:
			case <-done:
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	sc := newScanner(f, 30*time.Millisecond)
	for i := range 4 {
		seen, err := sc.Scan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(seen.addrs) != 1 || seen.addrs[0] != "AA:00:00:00:00:01" || seen.rssi["AA:00:00:00:00:01"] > -60 {
			t.Fatalf("window %d heard %v %v, want only the node", i, seen.addrs, seen.rssi)
		}
	}
	if n := f.scans.Load(); n < 3 {
		t.Errorf("%d discoveries in 4 windows with a node advertising, want a fresh one per window", n)
	}
}

// With nothing advertising no callback comes, so the discovery cannot be
// stopped safely: windows end on time with nothing heard and join the one
// discovery; the first advertisement is heard and stops it.
func TestRadioScanWithNothingAdvertising(t *testing.T) {
	f := &fakeAdapter{air: make(chan advert, 1)}
	sc := newScanner(f, 20*time.Millisecond)
	for i := range 3 {
		start := time.Now()
		seen, err := sc.Scan(context.Background())
		if err != nil || len(seen.addrs) != 0 {
			t.Fatalf("window %d: %v, %v; want nothing", i, seen.addrs, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("window %d took %s: a quiet scan must still end", i, d)
		}
	}
	if n := f.scans.Load(); n != 1 {
		t.Errorf("%d discoveries, want the one the quiet windows joined", n)
	}
	// A node advertises again and again (an advertisement heard between
	// two windows is not in either); the next windows hear it.
	done := make(chan struct{})
	advertising := make(chan struct{})
	go func() {
		defer close(advertising)
		for {
			select {
			case f.air <- advert{"AA:00:00:00:00:02", -70, []string{wire.ServiceUUID}}:
			case <-done:
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var heard bool
	for i := 0; i < 100 && !heard; i++ {
		seen, err := sc.Scan(context.Background())
		if err != nil {
			t.Fatalf("window with a node advertising: %v", err)
		}
		heard = len(seen.addrs) == 1
	}
	close(done)
	<-advertising
	if !heard {
		t.Fatal("a node advertising every 2 ms was not heard in 100 windows")
	}
	// The old discovery stopped on that advertisement; a window's end
	// leaves the scanner ready for the next one.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sc.Scan(ctx); err != nil {
		t.Fatal(err)
	}
}

// A discovery that fails (adapter off) is reported, and the next Scan
// tries again.
func TestRadioScanReportsAFailedDiscovery(t *testing.T) {
	f := &fakeAdapter{fail: errors.New("adapter not powered")}
	sc := newScanner(f, time.Second)
	start := time.Now()
	if _, err := sc.Scan(context.Background()); err == nil || !strings.Contains(err.Error(), "not powered") {
		t.Fatalf("err = %v, want the adapter's", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a failed discovery took the whole window (%s)", d)
	}
	f2 := &fakeAdapter{air: make(chan advert)}
	sc.a = f2 // the adapter is back
	if _, err := sc.Scan(context.Background()); err != nil {
		t.Fatalf("after the adapter came back: %v", err)
	}
	if f2.scans.Load() != 1 {
		t.Errorf("the next Scan did not start a discovery")
	}
}
