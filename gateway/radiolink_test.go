package gateway

import (
	"errors"
	"strings"
	"sync"
	"testing"

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
