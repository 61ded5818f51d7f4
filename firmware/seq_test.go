package firmware_test

import (
	"bytes"
	"testing"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/wire"
)

// seqLedger collects every summary a gateway saw, by seq, and fails on a
// seq that arrives with two different contents.
type seqLedger map[uint32][]byte

func (l seqLedger) add(t *testing.T, pkts [][]byte) {
	t.Helper()
	for _, p := range pkts {
		var h wire.Header
		wire.DecodeHeader(p, &h)
		body := p[4 : len(p)-2] // seq, time, payload: not the replay flag or the CRC
		if old, ok := l[h.Seq]; ok && !bytes.Equal(old, body) {
			t.Errorf("seq %d was sent for two different summaries", h.Seq)
		}
		l[h.Seq] = append([]byte(nil), body...)
	}
}

// dense fails unless the ledger holds exactly 0..n-1.
func (l seqLedger) dense(t *testing.T, what string) {
	t.Helper()
	for s := range uint32(len(l)) {
		if _, ok := l[s]; !ok {
			t.Errorf("%s: summary seq %d never sent (%d summaries, want 0..%d without a hole)", what, s, len(l), len(l)-1)
			return
		}
	}
}

func (r *rig) connectAndStream(t *testing.T) {
	t.Helper()
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
}

// TestSummarySeqHasNoHoleAcrossReboots: summaries are numbered 0, 1, 2, ...
// for the node's life, whatever else it sends (events, statuses, bursts)
// and however often it reboots, also with an empty ring (everything
// acknowledged) or after its ring capacity changed; every other packet
// carries the next summary's number.
func TestSummarySeqHasNoHoleAcrossReboots(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second, RingCapacity: 50})
	led := seqLedger{}
	r.connectAndStream(t)
	r.command(t, wire.Command{Op: wire.OpRequestBurst, Frames: 200, SampleRate: 1000})
	r.run(r.clk.t.Add(35 * time.Second))
	got := r.link.take(t)
	led.add(t, got[wire.TypeSummary])
	if len(got[wire.TypeBurstChunk]) == 0 || len(got[wire.TypeEvent]) == 0 || len(got[wire.TypeStatus]) == 0 {
		t.Fatalf("want bursts, events and a status besides summaries: %d chunks, %d events, %d statuses",
			len(got[wire.TypeBurstChunk]), len(got[wire.TypeEvent]), len(got[wire.TypeStatus]))
	}
	for i, tc := range []struct {
		name string
		prep func()
	}{
		{"reboot with unacknowledged summaries", func() {}},
		{"reboot with everything acknowledged", func() {
			r.command(t, wire.Command{Op: wire.OpResumeFrom, Seq: r.node.Ring().NextSeq()})
			if r.node.Ring().Len() != 0 {
				t.Fatalf("ring holds %d after acknowledging everything", r.node.Ring().Len())
			}
		}},
		{"reboot with another ring capacity", func() { r.cfg.RingCapacity = 30 }},
		{"watchdog reset while disconnected", func() { r.link.connected = false }},
	} {
		before := r.node.Ring().NextSeq()
		tc.prep()
		r.boot(t, wire.ResetWatchdog)
		if got := r.node.Ring().NextSeq(); got != before {
			t.Errorf("%s: next summary seq %d after the reboot, want %d", tc.name, got, before)
		}
		r.link.defrag = wire.Defragmenter{}
		r.link.connected = false
		r.run(r.clk.t.Add(time.Duration(10+5*i) * time.Second))
		r.connectAndStream(t)
		r.run(r.clk.t.Add(25 * time.Second))
		led.add(t, r.link.take(t)[wire.TypeSummary])
	}
	led.dense(t, "after four reboots")
	if len(led) < 15 {
		t.Errorf("only %d summaries in the whole run", len(led))
	}
	// A status carries the next summary's seq: the gateway's completeness
	// check counts the summaries below it.
	r.command(t, wire.Command{Op: wire.OpRequestStatus})
	r.run(r.clk.t.Add(100 * time.Millisecond))
	sts := r.link.take(t)[wire.TypeStatus]
	if len(sts) != 1 {
		t.Fatalf("%d statuses after RequestStatus, want 1", len(sts))
	}
	var h wire.Header
	wire.DecodeHeader(sts[0], &h)
	if want := uint32(len(led)); h.Seq != want || r.node.Ring().NextSeq() != want {
		t.Errorf("status seq %d, ring's next %d; want both %d (the next summary's number)", h.Seq, r.node.Ring().NextSeq(), want)
	}
}

// cutStore is a MemStore whose power fails at a chosen Put: that Put and
// everything after it never reach the store, and the node stops there.
type cutStore struct {
	*fw.MemStore
	puts, cutAt int // cutAt 0: never
}

type powerCut struct{}

func (s *cutStore) Put(key uint16, val []byte) error {
	s.puts++
	if s.cutAt > 0 && s.puts >= s.cutAt {
		panic(powerCut{})
	}
	return s.MemStore.Put(key, val)
}

// runUntilCut runs like run and reports whether the power failed.
func (r *rig) runUntilCut(until time.Time) bool {
	return r.cutDuring(func() { r.run(until) })
}

// cutDuring runs f and reports whether the power failed in it.
func (r *rig) cutDuring(f func()) (cut bool) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(powerCut); !ok {
				panic(v)
			}
			cut = true
		}
	}()
	f()
	return false
}

// TestSummarySeqSurvivesPowerLossAtAnyPoint cuts the power at every single
// store write of a streaming node (ring of 4, so pushes overwrite, with an
// acknowledgement in the middle) and boots it again on what reached the
// store: across both lives no summary seq is skipped and none is sent for
// two different summaries.
func TestSummarySeqSurvivesPowerLossAtAnyPoint(t *testing.T) {
	cfg := fw.Config{Interval: 10 * time.Second, RingCapacity: 4}
	life := func(r *rig, st *cutStore, led seqLedger) bool {
		r.connectAndStream(t)
		if r.runUntilCut(r.clk.t.Add(45 * time.Second)) {
			return true
		}
		if r.cutDuring(func() { r.command(t, wire.Command{Op: wire.OpResumeFrom, Seq: r.node.Ring().NextSeq() - 1}) }) {
			return true
		}
		return r.runUntilCut(r.clk.t.Add(45 * time.Second))
	}
	// A run without a cut counts the writes.
	ref := &cutStore{MemStore: fw.NewMemStore()}
	r := newRigOn(t, cfg, ref)
	boot := ref.puts
	life(r, ref, seqLedger{})
	total := ref.puts - boot
	if total < 20 {
		t.Fatalf("only %d store writes in the reference run", total)
	}
	for cut := 1; cut <= total; cut++ {
		st := &cutStore{MemStore: fw.NewMemStore()}
		r := newRigOn(t, cfg, st)
		st.cutAt = st.puts + cut
		led := seqLedger{}
		cutHappened := life(r, st, led)
		led.add(t, r.link.take(t)[wire.TypeSummary])
		if !cutHappened {
			t.Fatalf("cut %d of %d never happened", cut, total)
		}
		st.cutAt = 0
		r.link.defrag = wire.Defragmenter{}
		r.boot(t, wire.ResetBrownout)
		r.connectAndStream(t)
		r.run(r.clk.t.Add(25 * time.Second))
		led.add(t, r.link.take(t)[wire.TypeSummary])
		led.dense(t, "power cut at write "+itoa(cut))
		if t.Failed() {
			return
		}
	}
}

func newRigOn(t *testing.T, cfg fw.Config, st fw.Store) *rig {
	t.Helper()
	r := &rig{clk: &clock{t: time.Unix(1_800_000_000, 0)}, link: &simLink{bonded: true, mtu: 244}}
	r.sen = &simSensor{clk: r.clk}
	cfg.Now = r.clk.Now
	r.cfg = cfg
	r.hw = fw.Hardware{Sensor: r.sen, Link: r.link, Store: st}
	r.boot(t, wire.ResetPowerOn)
	return r
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestUpgradeFromSharedCounter: a store written by firmware that numbered
// every packet from one counter (24-byte ring record, reservation in
// KeyNode) continues above that reservation, since a gateway may have
// acknowledged up to any number below it.
func TestUpgradeFromSharedCounter(t *testing.T) {
	st := fw.NewMemStore()
	st.Put(fw.KeyNode, []byte{0x00, 0x03, 0, 0, 7, 0, 0, 0}) // reservation 768, 7 boots
	st.Put(fw.KeyRingMeta, make([]byte, 24))
	r := newRigOn(t, fw.Config{Interval: 10 * time.Second}, st)
	if got := r.node.Ring().NextSeq(); got != 768 {
		t.Fatalf("next summary seq after the upgrade %d, want 768", got)
	}
	r.run(r.clk.t.Add(15 * time.Second))
	r.boot(t, wire.ResetSoftware)
	if got := r.node.Ring().NextSeq(); got != 770 {
		t.Errorf("next summary seq after a reboot %d, want 770 (two summaries made)", got)
	}
}
