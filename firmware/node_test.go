package firmware_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math"
	"testing"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/wire"
)

// clock is the injected clock of a simulated node.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// simSensor produces a 25 Hz vibration at the FIFO rate the clock allows.
type simSensor struct {
	clk    *clock
	rate   int
	last   time.Time
	frames int
	fail   bool
}

func (s *simSensor) Init(rangeG, rateHz int) error { s.rate, s.last = rateHz, s.clk.t; return nil }
func (s *simSensor) ReadAccelFIFO(dst []int16) (int, error) {
	if s.fail {
		return 0, errors.New("i2c: no ack")
	}
	due := int(s.clk.t.Sub(s.last) * time.Duration(s.rate) / time.Second)
	due = min(due, 170, len(dst)/3)
	for i := range due {
		ph := 2 * math.Pi * 25 * float64(s.frames) / float64(s.rate)
		dst[3*i] = int16(0.1 * 2048 * math.Sin(ph))
		dst[3*i+1] = int16(0.05 * 2048 * math.Cos(ph))
		dst[3*i+2] = 2048
		s.frames++
	}
	s.last = s.last.Add(time.Duration(due) * time.Second / time.Duration(s.rate))
	return 3 * due, nil
}
func (s *simSensor) StartTemperature() error           { return nil }
func (s *simSensor) ReadTemperature() (float32, error) { return 31.5, nil }
func (s *simSensor) BatteryVolts() (float32, error)    { return 3.9, nil }

// simLink records notifications and reassembles them like a gateway.
type simLink struct {
	connected, bonded bool
	mtu               int
	adv               fw.AdvMode
	defrag            wire.Defragmenter
	pkts              [][]byte
	// failEvery > 0 makes every failEvery-th notification fail, as a full
	// BLE transmit queue does; corrupt counts notifications a central's
	// defragmenter could not place (half a packet followed by another).
	failEvery, calls, corrupt int
}

func (l *simLink) Connected() bool              { return l.connected }
func (l *simLink) MTU() int                     { return l.mtu }
func (l *simLink) Bonded() bool                 { return l.bonded }
func (l *simLink) Advertise(m fw.AdvMode) error { l.adv = m; return nil }
func (l *simLink) Notify(c wire.Char, b []byte) error {
	if !l.connected {
		return errors.New("not connected")
	}
	l.calls++
	if l.failEvery > 0 && l.calls%l.failEvery == 0 {
		return errors.New("ble: transmit queue full")
	}
	pkt, err := l.defrag.Feed(b)
	if err != nil {
		l.corrupt++
		return nil // it went on air; the central drops it
	}
	if pkt != nil {
		l.pkts = append(l.pkts, append([]byte(nil), pkt...))
	}
	return nil
}

// take returns the decoded headers and payloads received so far, by type.
func (l *simLink) take(t *testing.T) map[wire.Type][][]byte {
	t.Helper()
	if l.corrupt > 0 {
		t.Fatalf("the node put %d notifications on air that break a packet", l.corrupt)
	}
	out := map[wire.Type][][]byte{}
	for _, p := range l.pkts {
		var h wire.Header
		payload, err := wire.DecodeHeader(p, &h)
		if err != nil {
			t.Fatalf("node sent a bad packet %x: %v", p, err)
		}
		out[h.Type] = append(out[h.Type], p)
		_ = payload
	}
	l.pkts = nil
	return out
}

type rig struct {
	clk   *clock
	sen   *simSensor
	link  *simLink
	store *fw.MemStore
	node  *fw.Node
	cfg   fw.Config
	hw    fw.Hardware
}

func newRig(t *testing.T, cfg fw.Config) *rig {
	t.Helper()
	r := &rig{clk: &clock{t: time.Unix(1_800_000_000, 0)}, link: &simLink{bonded: true, mtu: 244}, store: fw.NewMemStore()}
	r.sen = &simSensor{clk: r.clk}
	cfg.Now = r.clk.Now
	r.cfg = cfg
	r.hw = fw.Hardware{Sensor: r.sen, Link: r.link, Store: r.store}
	r.boot(t, wire.ResetPowerOn)
	return r
}

// boot builds a new Node on the same store and hardware: a power cycle.
func (r *rig) boot(t *testing.T, reason wire.ResetReason) {
	t.Helper()
	n, err := fw.NewNode(r.cfg, r.hw, reason)
	if err != nil {
		t.Fatal(err)
	}
	r.node = n
}

// run steps the node until the clock reaches until, sleeping as Step asks.
func (r *rig) run(until time.Time) {
	for r.clk.t.Before(until) {
		next := r.node.Step()
		if next.IsZero() {
			return
		}
		if next.After(until) {
			next = until
		}
		if !next.After(r.clk.t) {
			next = r.clk.t.Add(time.Millisecond)
		}
		r.clk.t = next
	}
}

func (r *rig) command(t *testing.T, c wire.Command) {
	t.Helper()
	if err := r.node.HandleControl(wire.AppendCommand(nil, &c)); err != nil {
		t.Fatalf("command %#x: %v", c.Op, err)
	}
}

func summarySeqs(t *testing.T, pkts [][]byte) []uint32 {
	t.Helper()
	var seqs []uint32
	for _, p := range pkts {
		var h wire.Header
		var s wire.Summary
		payload, _ := wire.DecodeHeader(p, &h)
		if err := wire.DecodeSummary(payload, &s); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, h.Seq)
	}
	return seqs
}

func TestNodeStreamsSummaries(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second, Firmware: [3]uint8{1, 0, 0}})
	r.run(r.clk.t.Add(time.Second))
	if got := r.node.State(); got != fw.Advertising {
		t.Fatalf("after boot with a bond: %s, want advertising", got)
	}
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
	r.run(r.clk.t.Add(60 * time.Second))
	if got := r.node.State(); got != fw.Streaming {
		t.Fatalf("state %s, want streaming", got)
	}
	got := r.link.take(t)
	if n := len(got[wire.TypeSummary]); n < 6 || n > 7 {
		t.Errorf("%d summaries in 61 s at a 10 s interval, want 6 or 7", n)
	}
	if len(got[wire.TypeStatus]) == 0 || len(got[wire.TypeEvent]) == 0 {
		t.Errorf("no status or boot event on connect: %d status, %d events", len(got[wire.TypeStatus]), len(got[wire.TypeEvent]))
	}
	var h wire.Header
	var s wire.Summary
	p, _ := wire.DecodeHeader(got[wire.TypeSummary][0], &h)
	wire.DecodeSummary(p, &s)
	// A 0.1 g sine at 25 Hz: RMS 0.0707 g, velocity 0.0707·9806.65/(2π·25) = 4.41 mm/s.
	if v := s.Values[wire.AccRMSX]; math.Abs(float64(v)-0.0707) > 0.002 {
		t.Errorf("acc_rms_x = %g g, want 0.0707", v)
	}
	if v := s.Values[wire.VelRMSX]; math.Abs(float64(v)-4.41) > 0.15 {
		t.Errorf("vel_rms_x = %g mm/s, want 4.41", v)
	}
	if s.Values[wire.TempC] != 31.5 || s.VelBandHi != 450 || s.Flags&wire.SummaryISOBand != 0 {
		t.Errorf("temp %g band hi %d flags %#x; want 31.5 °C, 450 Hz (0.45·fs), ISO band not covered", s.Values[wire.TempC], s.VelBandHi, s.Flags)
	}
}

// TestRingSurvivesDisconnect: a node that loses its gateway for 90
// minutes at a 60 s interval with room for 60 summaries keeps the newest
// 60 and counts 31 dropped (91 windows in 90 min 6 s): the one sent before the link went down counts
// too, because a notification still queued in the radio at a disconnect
// may never have arrived (the ring rewinds on disconnect). After
// reconnecting and ResumeFrom it sends the 60 plus a DataLost event.
func TestRingSurvivesDisconnect(t *testing.T) {
	cfg := fw.Config{Interval: time.Minute, RingCapacity: 60, Timeouts: fw.Timeouts{Sleep: 2 * time.Hour}}
	if got := cfg.BufferHours(); got != 1 {
		t.Errorf("BufferHours = %g, want 1", got)
	}
	r := newRig(t, cfg)
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
	r.run(r.clk.t.Add(5 * time.Second))
	first := summarySeqs(t, r.link.take(t)[wire.TypeSummary])
	if len(first) != 1 {
		t.Fatalf("%d summaries before the disconnect, want 1", len(first))
	}
	r.link.connected = false
	r.run(r.clk.t.Add(59 * time.Minute))
	if got := r.node.State(); got != fw.Disconnected {
		t.Fatalf("state %s, want disconnected", got)
	}
	if got := r.node.Ring().Unsent(); got != 60 || r.node.Ring().Dropped() != 0 {
		t.Fatalf("after 59 min: %d unsent, %d dropped; want 60, 0 (nothing lost up to capacity)", got, r.node.Ring().Dropped())
	}
	r.run(r.clk.t.Add(31 * time.Minute))
	if got, d := r.node.Ring().Len(), r.node.Ring().Dropped(); got != 60 || d != 31 {
		t.Fatalf("after 90 min: %d held, %d dropped; want 60 held, 31 dropped (oldest first)", got, d)
	}
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpResumeFrom, Seq: first[0] + 1})
	r.run(r.clk.t.Add(2 * time.Second))
	got := r.link.take(t)
	seqs := summarySeqs(t, got[wire.TypeSummary])
	if len(seqs) != 60 {
		t.Errorf("%d summaries after resume, want 60", len(seqs))
	}
	var lost *wire.Event
	for _, p := range got[wire.TypeEvent] {
		var h wire.Header
		var e wire.Event
		pl, _ := wire.DecodeHeader(p, &h)
		wire.DecodeEvent(pl, &e)
		if e.Code == wire.EventDataLost {
			lost = &e
		}
	}
	if lost == nil || lost.Arg1 != 31 || lost.Arg2 != first[0] {
		t.Errorf("DataLost event %+v, want 31 dropped from seq %d", lost, first[0])
	}
}

// TestRingPersistsAcrossPowerLoss: summaries buffered before a power cut
// come back from the Store, and sequence numbers are never reused.
func TestRingPersistsAcrossPowerLoss(t *testing.T) {
	r := newRig(t, fw.Config{Interval: time.Minute, RingCapacity: 100})
	r.run(r.clk.t.Add(10 * time.Minute))
	held := r.node.Ring().Len()
	if held != 10 {
		t.Fatalf("%d summaries buffered in 10 min, want 10", held)
	}
	r.boot(t, wire.ResetBrownout)
	if got := r.node.Ring().Len(); got != held {
		t.Fatalf("after power loss the ring holds %d, want %d", got, held)
	}
	r.run(r.clk.t.Add(115 * time.Second)) // windows at 0 and 60 s after the reboot
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
	r.run(r.clk.t.Add(2 * time.Second))
	seqs := summarySeqs(t, r.link.take(t)[wire.TypeSummary])
	seen := map[uint32]bool{}
	for _, s := range seqs {
		if seen[s] {
			t.Errorf("sequence number %d sent twice", s)
		}
		seen[s] = true
	}
	if len(seqs) != 12 {
		t.Errorf("%d summaries sent, want 12 (10 before and 2 after the power loss)", len(seqs))
	}
}

func TestSmallMTUFragments(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second})
	r.link.mtu = 20
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
	r.run(r.clk.t.Add(12 * time.Second))
	if n := len(r.link.take(t)[wire.TypeSummary]); n != 2 {
		t.Errorf("%d summaries over a 20-byte MTU, want 2", n)
	}
}

// TestAFailedFragmentNeverBreaksAPacket: over a 20-byte MTU a packet is
// several notifications; when one after the first fails (the radio's
// transmit queue is full), the rest of that packet goes out before
// anything else, so the central never gets half a packet followed by
// another, and every summary arrives once.
func TestAFailedFragmentNeverBreaksAPacket(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second})
	r.link.mtu = 20
	r.link.failEvery = 3
	r.connectAndStream(t)
	r.command(t, wire.Command{Op: wire.OpRequestBurst, Frames: 300, SampleRate: 1000})
	r.run(r.clk.t.Add(10 * time.Minute))
	got := r.link.take(t) // fails on any broken packet
	seqs := summarySeqs(t, got[wire.TypeSummary])
	if len(seqs) < 55 {
		t.Fatalf("%d summaries in 10 minutes at one per 10 s", len(seqs))
	}
	for i, s := range seqs {
		if s != uint32(i) {
			t.Fatalf("summary %d has seq %d: %v", i, s, seqs)
		}
	}
	if len(got[wire.TypeBurstChunk]) == 0 || len(got[wire.TypeStatus]) == 0 {
		t.Errorf("%d burst chunks, %d statuses: the failures starved them", len(got[wire.TypeBurstChunk]), len(got[wire.TypeStatus]))
	}
}

func TestBurstCapture(t *testing.T) {
	r := newRig(t, fw.Config{Interval: time.Hour})
	r.link.connected = true
	r.run(r.clk.t.Add(2 * time.Second))
	r.link.take(t)
	r.command(t, wire.Command{Op: wire.OpRequestBurst, Frames: 4096, SampleRate: 1000})
	r.run(r.clk.t.Add(6 * time.Second))
	chunks := r.link.take(t)[wire.TypeBurstChunk]
	ra := wire.NewReassembler(4096)
	var c wire.BurstChunk
	done := false
	for _, p := range chunks {
		var h wire.Header
		pl, _ := wire.DecodeHeader(p, &h)
		if err := wire.DecodeBurstChunk(pl, &c); err != nil {
			t.Fatal(err)
		}
		done, _ = ra.Add(&c)
	}
	meta, data, ok := ra.Burst()
	if !done || !ok || len(chunks) != 121 {
		t.Fatalf("burst complete %v after %d chunks, want complete after 121", done, len(chunks))
	}
	if meta.Scale != 1.0/2048 || data[2] != 2048 {
		t.Errorf("scale %g, z[0] %d; want 1/2048 and 2048 (1 g)", meta.Scale, data[2])
	}
}

func TestSensorFaultLeadsToErrorAndRetry(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second, Timeouts: fw.Timeouts{Retry: 30 * time.Second}})
	r.run(r.clk.t.Add(time.Second))
	r.sen.fail = true
	r.run(r.clk.t.Add(35 * time.Second))
	if got := r.node.State(); got != fw.Error {
		t.Fatalf("after three failed windows: %s, want error", got)
	}
	r.sen.fail = false
	r.run(r.clk.t.Add(31 * time.Second))
	if got := r.node.State(); got != fw.Advertising {
		t.Errorf("after the retry: %s, want advertising", got)
	}
}

func TestAdmitOneCentral(t *testing.T) {
	tests := []struct {
		name                       string
		connected, bonded, pairing bool
		ok                         bool
	}{
		{"bonded central", false, true, false, true},
		{"second central", true, true, false, false},
		{"stranger outside pairing", false, false, false, false},
		{"stranger while pairing", false, false, true, true},
	}
	for _, tt := range tests {
		if ok, _ := fw.Admit(tt.connected, tt.bonded, tt.pairing); ok != tt.ok {
			t.Errorf("%s: admitted %v, want %v", tt.name, ok, tt.ok)
		}
	}
}

// --- OTA ---

type memSlot struct{ b []byte }

func (s *memSlot) Size() uint32 { return uint32(len(s.b)) }
func (s *memSlot) Erase(n uint32) error {
	for i := range s.b[:n] {
		s.b[i] = 0xFF
	}
	return nil
}
func (s *memSlot) WriteAt(p []byte, off uint32) error { copy(s.b[off:], p); return nil }
func (s *memSlot) ReadAt(p []byte, off uint32) error  { copy(p, s.b[off:]); return nil }

type simBoot struct{ activated, pending, confirmed, rolledBack bool }

func (b *simBoot) Activate() error { b.activated = true; return nil }
func (b *simBoot) Pending() bool   { return b.pending }
func (b *simBoot) Confirm() error  { b.pending, b.confirmed = false, true; return nil }
func (b *simBoot) Rollback() error { b.pending, b.rolledBack = false, true; return nil }

func image(n int) []byte {
	img := make([]byte, n)
	for i := range img {
		img[i] = byte(i*31 + i>>8)
	}
	return img
}

func begin(img []byte, key ed25519.PrivateKey) wire.Command {
	c := wire.Command{Op: wire.OpOTABegin, Size: uint32(len(img)), Version: [3]uint8{1, 1, 0}, SHA256: sha256.Sum256(img)}
	copy(c.Signature[:], ed25519.Sign(key, c.SHA256[:]))
	return c
}

// sendFrom sends img from off in MaxOTAChunk pieces, stopping at stop.
func sendFrom(t *testing.T, r *fw.OTAReceiver, img []byte, off, stop int) {
	t.Helper()
	for off < stop {
		end := min(off+wire.MaxOTAChunk, len(img))
		if e := r.Data(wire.AppendOTAData(nil, uint32(off), img[off:end])); e != wire.OTAOK {
			t.Fatalf("chunk at %d: OTA error %d", off, e)
		}
		off = end
	}
}

func TestOTAResumesAfterPowerLoss(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	img := image(100_000)
	slot, boot, st := &memSlot{b: make([]byte, 256<<10)}, &simBoot{}, fw.NewMemStore()
	v := fw.Ed25519Verifier{PublicKey: pub}
	r := fw.NewOTAReceiver(slot, boot, v, st, [3]uint8{1, 0, 0})
	c := begin(img, priv)
	if e := r.Begin(&c); e != wire.OTAOK {
		t.Fatalf("Begin: %d", e)
	}
	sendFrom(t, r, img, 0, 60_000)
	// Power loss: a new receiver on the same flash and store.
	r = fw.NewOTAReceiver(slot, boot, v, st, [3]uint8{1, 0, 0})
	s := r.Status()
	if s.State != wire.OTAReceiving || s.NextOffset == 0 || s.NextOffset > 60_000 || s.NextOffset%fw.ProgressEvery != 0 {
		t.Fatalf("after power loss: %+v, want receiving from a sector boundary in (0, 60000]", s)
	}
	if e := r.Begin(&c); e != wire.OTAOK || r.Status().NextOffset != s.NextOffset {
		t.Fatalf("Begin of the same image must resume at %d: error %d, next %d", s.NextOffset, e, r.Status().NextOffset)
	}
	sendFrom(t, r, img, int(s.NextOffset), len(img))
	if e := r.Commit(); e != wire.OTAOK || !boot.activated {
		t.Fatalf("Commit: error %d, activated %v", e, boot.activated)
	}
	if !bytes.Equal(slot.b[:len(img)], img) {
		t.Errorf("slot differs from the image")
	}
	if st.Writes > len(img)/fw.ProgressEvery+8 {
		t.Errorf("%d store writes for a %d-byte image; progress is persisted once per sector", st.Writes, len(img))
	}
}

func TestOTARejects(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	img := image(5000)
	t.Run("corrupted chunk", func(t *testing.T) {
		r := fw.NewOTAReceiver(&memSlot{b: make([]byte, 8192)}, &simBoot{}, fw.Ed25519Verifier{PublicKey: pub}, fw.NewMemStore(), [3]uint8{1, 0, 0})
		c := begin(img, priv)
		r.Begin(&c)
		chunk := wire.AppendOTAData(nil, 0, img[:200])
		chunk[50] ^= 1
		if e := r.Data(chunk); e != wire.OTAErrChunkCRC || r.Status().NextOffset != 0 {
			t.Errorf("corrupted chunk: error %d next %d, want CRC error and offset 0", e, r.Status().NextOffset)
		}
		if e := r.Data(wire.AppendOTAData(nil, 400, img[400:600])); e != wire.OTAErrOffset {
			t.Errorf("chunk past the next offset: error %d, want offset error", e)
		}
	})
	t.Run("bad signature", func(t *testing.T) {
		boot := &simBoot{}
		r := fw.NewOTAReceiver(&memSlot{b: make([]byte, 8192)}, boot, fw.Ed25519Verifier{PublicKey: pub}, fw.NewMemStore(), [3]uint8{1, 0, 0})
		c := begin(img, other)
		r.Begin(&c)
		sendFrom(t, r, img, 0, len(img))
		if e := r.Commit(); e != wire.OTAErrSignature || boot.activated {
			t.Errorf("image signed by another key: error %d activated %v, want signature error, not activated", e, boot.activated)
		}
	})
	t.Run("hash mismatch", func(t *testing.T) {
		boot := &simBoot{}
		r := fw.NewOTAReceiver(&memSlot{b: make([]byte, 8192)}, boot, fw.Ed25519Verifier{PublicKey: pub}, fw.NewMemStore(), [3]uint8{1, 0, 0})
		c := begin(img, priv)
		r.Begin(&c)
		bad := append([]byte(nil), img...)
		bad[4000] ^= 0xFF
		sendFrom(t, r, bad, 0, len(bad))
		if e := r.Commit(); e != wire.OTAErrHash || boot.activated {
			t.Errorf("image differing from its digest: error %d, want hash error", e)
		}
	})
	t.Run("downgrade", func(t *testing.T) {
		r := fw.NewOTAReceiver(&memSlot{b: make([]byte, 8192)}, &simBoot{}, fw.Ed25519Verifier{PublicKey: pub}, fw.NewMemStore(), [3]uint8{2, 0, 0})
		c := begin(img, priv)
		if e := r.Begin(&c); e != wire.OTAErrDowngrade {
			t.Errorf("1.1.0 onto 2.0.0: error %d, want downgrade", e)
		}
	})
}

// TestConfirmOrRollback: a new image on trial is kept once it connects to
// a central, and rolled back when it does not within ConfirmWithin.
func TestConfirmOrRollback(t *testing.T) {
	for _, tt := range []struct {
		name     string
		connect  bool
		confirm  bool
		rollback bool
		state    fw.State
	}{
		{"connects: confirmed", true, true, false, fw.ConnectedIdle},
		{"never connects: rolled back", false, false, true, fw.Rebooting},
	} {
		t.Run(tt.name, func(t *testing.T) {
			boot := &simBoot{pending: true}
			clk := &clock{t: time.Unix(1_800_000_000, 0)}
			link := &simLink{bonded: true, mtu: 244, connected: tt.connect}
			hw := fw.Hardware{Sensor: &simSensor{clk: clk}, Link: link, Store: fw.NewMemStore(),
				Slot: &memSlot{b: make([]byte, 1024)}, Boot: boot}
			n, err := fw.NewNode(fw.Config{Now: clk.Now, ConfirmWithin: 5 * time.Minute, Timeouts: fw.Timeouts{Sleep: time.Hour}}, hw, wire.ResetOTA)
			if err != nil {
				t.Fatal(err)
			}
			r := &rig{clk: clk, node: n, link: link}
			r.run(clk.t.Add(6 * time.Minute))
			if boot.confirmed != tt.confirm || boot.rolledBack != tt.rollback || n.State() != tt.state {
				t.Errorf("confirmed %v rolled back %v state %s; want %v %v %s", boot.confirmed, boot.rolledBack, n.State(), tt.confirm, tt.rollback, tt.state)
			}
		})
	}
}
