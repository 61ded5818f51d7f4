package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/wire"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/wire")

const goldenDir = "../testdata/wire"

var nan = float32(math.NaN())

func fullSummary() wire.Summary {
	return wire.Summary{
		Values: [wire.NumMetrics]float32{
			0.1234, 0.0567, 1.0021, // acc rms g
			0.456, 0.2, 3.5, // acc peak g
			2.81, 1.07, 4.5, // vel rms mm/s
			3.695, 3.527, 3.49, // crest
			3.02, 2.98, 12.5, // kurtosis
			41.3125, 3.712, // temp C, battery V
		},
		SampleRate: 1000, Samples: 1024, VelBandLo: 10, VelBandHi: 450, RangeG: 16, Flags: 0,
	}
}

func partialSummary() wire.Summary {
	var s wire.Summary
	s.Reset()
	s.Values[wire.AccRMSZ] = 0.05
	s.Values[wire.TempC] = -12.0625
	s.SampleRate, s.Samples, s.VelBandLo, s.VelBandHi, s.RangeG, s.Flags = 4000, 4096, 10, 1000, 8, wire.SummaryISOBand|wire.SummaryClipped
	return s
}

func burstChunk() wire.BurstChunk {
	c := wire.BurstChunk{BurstID: 7, Index: 2, Count: 121, FirstFrame: 68, TotalFrames: 4096, Axes: 3, RateMilliHz: 1_000_000, Scale: 1.0 / 2048}
	for i := range 4 * 3 {
		c.Data = append(c.Data, int16(i*1000-6000))
	}
	return c
}

func otaBegin() wire.Command {
	c := wire.Command{Op: wire.OpOTABegin, Size: 1 << 20, Version: [3]uint8{1, 4, 2}}
	for i := range c.SHA256 {
		c.SHA256[i] = byte(i)
	}
	for i := range c.Signature {
		c.Signature[i] = byte(0xA0 + i)
	}
	return c
}

var hdr = wire.Header{Seq: 0x01020304, Time: 1767225600123} // 2026-01-01T00:00:00.123Z

// golden lists every vector: its file name, how to encode it, and how to
// decode the bytes and encode them again.
var golden = []struct {
	name   string
	encode func() []byte
	decode func(b []byte) ([]byte, error)
}{
	{"summary_full", func() []byte { s := fullSummary(); return wire.AppendSummary(nil, &hdr, &s) }, func(b []byte) ([]byte, error) {
		var h wire.Header
		var s wire.Summary
		p, err := decodeType(b, &h, wire.TypeSummary)
		if err == nil {
			err = wire.DecodeSummary(p, &s)
		}
		return wire.AppendSummary(nil, &h, &s), err
	}},
	{"summary_not_measured", func() []byte {
		s := partialSummary()
		h := wire.Header{Seq: 5, Time: 93_000, Flags: wire.FlagUptime | wire.FlagReplay}
		return wire.AppendSummary(nil, &h, &s)
	}, nil},
	{"burst_chunk", func() []byte { c := burstChunk(); return wire.AppendBurstChunk(nil, &hdr, &c) }, func(b []byte) ([]byte, error) {
		var h wire.Header
		var c wire.BurstChunk
		p, err := decodeType(b, &h, wire.TypeBurstChunk)
		if err == nil {
			err = wire.DecodeBurstChunk(p, &c)
		}
		return wire.AppendBurstChunk(nil, &h, &c), err
	}},
	{"status", func() []byte {
		s := wire.Status{BatteryV: 3.9, TempC: 24.5, Firmware: [3]uint8{1, 2, 3}, ResetReason: wire.ResetDeepSleep,
			UptimeS: 86400, State: 5, Flags: wire.StatusClockSet | wire.StatusBonded | wire.StatusRingOverflow,
			Buffered: 300, Capacity: 1440, Dropped: 12, IntervalS: 60}
		return wire.AppendStatus(nil, &hdr, &s)
	}, func(b []byte) ([]byte, error) {
		var h wire.Header
		var s wire.Status
		p, err := decodeType(b, &h, wire.TypeStatus)
		if err == nil {
			err = wire.DecodeStatus(p, &s)
		}
		return wire.AppendStatus(nil, &h, &s), err
	}},
	{"event_data_lost", func() []byte {
		e := wire.Event{Code: wire.EventDataLost, Arg1: 60, Arg2: 1000}
		return wire.AppendEvent(nil, &hdr, &e)
	}, func(b []byte) ([]byte, error) {
		var h wire.Header
		var e wire.Event
		p, err := decodeType(b, &h, wire.TypeEvent)
		if err == nil {
			err = wire.DecodeEvent(p, &e)
		}
		return wire.AppendEvent(nil, &h, &e), err
	}},
	{"ota_status", func() []byte {
		s := wire.OTAStatus{State: wire.OTAReceiving, Version: [3]uint8{1, 4, 2}, MaxChunk: 232, Size: 1 << 20, NextOffset: 65536}
		return wire.AppendOTAStatus(nil, &hdr, &s)
	}, func(b []byte) ([]byte, error) {
		var h wire.Header
		var s wire.OTAStatus
		p, err := decodeType(b, &h, wire.TypeOTAStatus)
		if err == nil {
			err = wire.DecodeOTAStatus(p, &s)
		}
		return wire.AppendOTAStatus(nil, &h, &s), err
	}},
	{"device_info", func() []byte {
		d := wire.DeviceInfo{Serial: [8]byte{'V', 'M', 0x30, 0xAE, 0xA4, 0x12, 0x34, 0x56}, Hardware: wire.HardwareESP32S3,
			Protocol: wire.Version, Firmware: [3]uint8{1, 2, 3}, Caps: wire.CapAccel | wire.CapTemp | wire.CapBurst | wire.CapOTA,
			MaxRateHz: 1000, MaxBurst: 4096, RingCapacity: 1440}
		h := wire.Header{}
		return wire.AppendDeviceInfo(nil, &h, &d)
	}, func(b []byte) ([]byte, error) {
		var h wire.Header
		var d wire.DeviceInfo
		p, err := decodeType(b, &h, wire.TypeDeviceInfo)
		if err == nil {
			err = wire.DecodeDeviceInfo(p, &d)
		}
		return wire.AppendDeviceInfo(nil, &h, &d), err
	}},
	{"command_set_time", func() []byte {
		return wire.AppendCommand(nil, &wire.Command{Op: wire.OpSetTime, Time: 1767225600123})
	}, decodeCommand},
	{"command_set_ranges", func() []byte {
		return wire.AppendCommand(nil, &wire.Command{Op: wire.OpSetRanges, RangeG: 8, SampleRate: 1000, Window: 1024})
	}, decodeCommand},
	{"command_resume_from", func() []byte {
		return wire.AppendCommand(nil, &wire.Command{Op: wire.OpResumeFrom, Seq: 1000})
	}, decodeCommand},
	{"command_reboot", func() []byte { return wire.AppendCommand(nil, &wire.Command{Op: wire.OpReboot}) }, decodeCommand},
	{"command_ota_begin", func() []byte { c := otaBegin(); return wire.AppendCommand(nil, &c) }, decodeCommand},
	{"ota_data", func() []byte { return wire.AppendOTAData(nil, 4096, []byte("VibeMon image bytes")) }, func(b []byte) ([]byte, error) {
		off, data, err := wire.DecodeOTAData(b)
		return wire.AppendOTAData(nil, off, data), err
	}},
}

func init() {
	// The second summary vector decodes like the first.
	golden[1].decode = golden[0].decode
}

func decodeType(b []byte, h *wire.Header, t wire.Type) ([]byte, error) {
	p, err := wire.DecodeHeader(b, h)
	if err == nil && h.Type != t {
		err = wire.ErrType
	}
	return p, err
}

func decodeCommand(b []byte) ([]byte, error) {
	var c wire.Command
	err := wire.DecodeCommand(b, &c)
	return wire.AppendCommand(nil, &c), err
}

// readHex reads a golden file: hex digits, with whitespace and lines
// starting with '#' ignored.
func readHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func writeHex(t *testing.T, path, name string, b []byte) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("# " + name + ": produced by wire's encoder (go test ./wire -update), checked by hand against docs/protocol.md.\n")
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(len(b), i+16)]
		for j, v := range line {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(hex.EncodeToString([]byte{v}))
		}
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGolden pins the encoding: each vector is what the encoder produces,
// and decoding it and encoding again gives the same bytes.
func TestGolden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join(goldenDir, g.name+".hex")
			enc := g.encode()
			if *update {
				writeHex(t, path, g.name, enc)
			}
			want := readHex(t, path)
			if !bytes.Equal(enc, want) {
				t.Errorf("encoder output differs from %s:\n got %x\nwant %x", path, enc, want)
			}
			got, err := g.decode(want)
			if err != nil {
				t.Fatalf("decode %s: %v", path, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decode+encode of %s:\n got %x\nwant %x", path, got, want)
			}
			if len(want) > wire.MaxPacket {
				t.Errorf("%d bytes, more than one notification (%d)", len(want), wire.MaxPacket)
			}
		})
	}
}

func TestCRC16CheckValue(t *testing.T) {
	if got, want := wire.CRC16([]byte("123456789")), uint16(0x29B1); got != want {
		t.Errorf("CRC16(123456789) = %#04x, want %#04x (CRC-16/CCITT-FALSE)", got, want)
	}
}

// TestMetricsMatchServer guards that a summary carries the server's
// reading metrics, by name and order, and that every server value range
// fits the wire's fixed-point range.
func TestMetricsMatchServer(t *testing.T) {
	for i := range wire.NumMetrics {
		wm, sm := wire.Metric(i), vibemon.Metric(i)
		if wm.String() != sm.String() {
			t.Errorf("metric %d: wire %q, server %q", i, wm, sm)
		}
		lo, hi := sm.Range()
		for _, v := range []float64{lo, hi} {
			got := wm.Dequantize(wm.Quantize(float32(v)))
			scale, _ := wm.Scale()
			if math.Abs(float64(got)-v) > 0.5/scale+1e-6*math.Abs(v) {
				t.Errorf("%s: %g encodes as %g; the server's range must fit", wm, v, got)
			}
		}
	}
	if vibemon.Metric(wire.NumMetrics) != vibemon.RSSIdBm {
		t.Errorf("wire carries %d metrics; the one after them must be rssi (the gateway's)", wire.NumMetrics)
	}
}

func TestQuantize(t *testing.T) {
	tests := []struct {
		name string
		m    wire.Metric
		v    float32
		want uint16
	}{
		{"rounds half away from zero", wire.AccRMSX, 0.00025, 1},
		{"rounds down", wire.AccRMSX, 0.0002, 0},
		{"saturates", wire.AccRMSX, 100, 0xFFFE},
		{"+Inf saturates", wire.VelRMSX, float32(math.Inf(1)), 0xFFFE},
		{"negative unsigned is zero", wire.CrestX, -1, 0},
		{"NaN is not measured", wire.KurtosisX, nan, 0xFFFF},
		{"signed temperature", wire.TempC, -12.0625, uint16(0x10000 - 1544)},
		{"temperature NaN", wire.TempC, nan, 0x8000},
		{"temperature saturates low", wire.TempC, -1000, 0x8001},
		{"battery mV", wire.BatteryV, 3.7125, 3713},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Quantize(tt.v); got != tt.want {
				t.Errorf("%s.Quantize(%g) = %#04x, want %#04x", tt.m, tt.v, got, tt.want)
			}
		})
	}
}

// TestSummaryRoundTrip is a property test: any summary decodes to values
// within half a step of what was encoded (saturated to the range), and
// "not measured" survives.
func TestSummaryRoundTrip(t *testing.T) {
	rng := uint64(1)
	next := func() float64 { // xorshift, deterministic
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return float64(rng>>11) / (1 << 53)
	}
	for i := range 2000 {
		var s wire.Summary
		for m := range s.Values {
			switch r := next(); {
			case r < 0.1:
				s.Values[m] = nan
			case m == int(wire.TempC):
				s.Values[m] = float32(next()*300 - 100)
			default:
				s.Values[m] = float32(next() * 1500)
			}
		}
		s.SampleRate, s.Samples = uint16(next()*65535), uint16(next()*65535)
		h := wire.Header{Seq: uint32(i), Time: uint64(next() * 1e13)}
		pkt := wire.AppendSummary(nil, &h, &s)
		var gh wire.Header
		var got wire.Summary
		p, err := wire.DecodeHeader(pkt, &gh)
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.DecodeSummary(p, &got); err != nil {
			t.Fatal(err)
		}
		if gh != (wire.Header{Type: wire.TypeSummary, Seq: h.Seq, Time: h.Time}) {
			t.Fatalf("header %+v, want seq %d time %d", gh, h.Seq, h.Time)
		}
		for m, v := range s.Values {
			wm := wire.Metric(m)
			scale, signed := wm.Scale()
			g := got.Values[m]
			if v != v {
				if g == g {
					t.Fatalf("%s: NaN decoded as %g", wm, g)
				}
				continue
			}
			lo, hi := 0.0, float64(0xFFFE)/scale
			if signed {
				lo, hi = -32767/scale, 32767/scale
			}
			want := math.Max(lo, math.Min(hi, float64(v)))
			if d := math.Abs(float64(g) - want); d > 0.5/scale+1e-4 {
				t.Fatalf("%s: %g decoded as %g (off by %g, step %g)", wm, v, g, d, 1/scale)
			}
		}
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	s := fullSummary()
	good := wire.AppendSummary(nil, &hdr, &s)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, wire.ErrShort},
		{"version 2", mod(func(b []byte) []byte { b[0] = 2; return b }), wire.ErrVersion},
		{"flipped payload bit", mod(func(b []byte) []byte { b[20] ^= 0x10; return b }), wire.ErrCRC},
		{"truncated", good[:len(good)-1], wire.ErrLength},
		{"trailing byte", append(append([]byte(nil), good...), 0), wire.ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h wire.Header
			if _, err := wire.DecodeHeader(tt.pkt, &h); !errors.Is(err, tt.want) {
				t.Errorf("DecodeHeader = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBurstReassembly splits a 4096 × 3 burst into chunks, delivers them
// out of order with duplicates over a 20-byte MTU, and gets the burst back.
func TestBurstReassembly(t *testing.T) {
	const frames = 4096
	data := make([]int16, 3*frames)
	for i := range data {
		data[i] = int16(i*7919 - 30000)
	}
	per := wire.ChunkFrames(3)
	count := (frames + per - 1) / per
	var pkts [][]byte
	for i := range count {
		lo, hi := i*per, min(frames, (i+1)*per)
		c := wire.BurstChunk{BurstID: 9, Index: uint16(i), Count: uint16(count), FirstFrame: uint16(lo), TotalFrames: frames,
			Axes: 3, RateMilliHz: 1_000_000, Scale: 1.0 / 2048, Data: data[3*lo : 3*hi]}
		h := wire.Header{Seq: uint32(i)}
		pkts = append(pkts, wire.AppendBurstChunk(nil, &h, &c))
	}
	if count != 121 {
		t.Errorf("a 4096-frame burst takes %d chunks, want 121 (34 frames each)", count)
	}
	// Reverse order, every third chunk twice.
	var order []int
	for i := count - 1; i >= 0; i-- {
		order = append(order, i)
		if i%3 == 0 {
			order = append(order, i)
		}
	}
	r := wire.NewReassembler(frames)
	var d wire.Defragmenter
	var c wire.BurstChunk
	done := false
	for n, i := range order {
		if done && n < len(order)-1 {
			t.Fatalf("burst complete after %d of %d deliveries", n, len(order))
		}
		rest := pkts[i]
		for len(rest) > 0 {
			var frag []byte
			frag, rest = wire.NextFragment(rest, wire.MinMTUPayload)
			pkt, err := d.Feed(frag)
			if err != nil {
				t.Fatal(err)
			}
			if pkt == nil {
				continue
			}
			var h wire.Header
			p, err := wire.DecodeHeader(pkt, &h)
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.DecodeBurstChunk(p, &c); err != nil {
				t.Fatal(err)
			}
			if done, err = r.Add(&c); err != nil {
				t.Fatal(err)
			}
		}
	}
	meta, got, ok := r.Burst()
	if !ok || !done {
		have, total := r.Progress()
		t.Fatalf("burst incomplete: %d of %d frames", have, total)
	}
	if !slicesEqual(got, data) || meta.Scale != 1.0/2048 || meta.RateMilliHz != 1_000_000 {
		t.Errorf("reassembled burst differs from the original")
	}
}

func TestReassemblerRejects(t *testing.T) {
	base := wire.BurstChunk{BurstID: 1, Count: 2, TotalFrames: 4, Axes: 1, RateMilliHz: 1000, Scale: 1, Data: []int16{1, 2}}
	r := wire.NewReassembler(4)
	if _, err := r.Add(&base); err != nil {
		t.Fatal(err)
	}
	other := base
	other.Index, other.FirstFrame, other.Scale = 1, 2, 2
	if _, err := r.Add(&other); !errors.Is(err, wire.ErrBurstMismatch) {
		t.Errorf("chunk with another scale: %v, want ErrBurstMismatch", err)
	}
	big := base
	big.BurstID, big.TotalFrames = 2, 5
	if _, err := r.Add(&big); !errors.Is(err, wire.ErrBurstTooLarge) {
		t.Errorf("5-frame burst into a 4-frame reassembler: %v, want ErrBurstTooLarge", err)
	}
}

func TestDefragmenterResyncs(t *testing.T) {
	var d wire.Defragmenter
	if _, err := d.Feed([]byte{0x7F, 1, 2}); !errors.Is(err, wire.ErrVersion) {
		t.Errorf("garbage start: %v, want ErrVersion", err)
	}
	e := wire.Event{Code: wire.EventBoot}
	pkt := wire.AppendEvent(nil, &hdr, &e)
	got, err := d.Feed(pkt)
	if err != nil || !bytes.Equal(got, pkt) {
		t.Errorf("whole packet after garbage: %x, %v", got, err)
	}
}

func TestCommandRejects(t *testing.T) {
	tests := []struct {
		name string
		c    wire.Command
	}{
		{"interval 0", wire.Command{Op: wire.OpSetInterval}},
		{"range 3 g", wire.Command{Op: wire.OpSetRanges, RangeG: 3, SampleRate: 1000, Window: 1024}},
		{"rate 2 kHz", wire.Command{Op: wire.OpSetRanges, RangeG: 2, SampleRate: 2000, Window: 1024}},
		{"window 1000", wire.Command{Op: wire.OpSetRanges, RangeG: 2, SampleRate: 1000, Window: 1000}},
		{"burst of 0", wire.Command{Op: wire.OpRequestBurst, SampleRate: 1000}},
		{"empty image", wire.Command{Op: wire.OpOTABegin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c wire.Command
			if err := wire.DecodeCommand(wire.AppendCommand(nil, &tt.c), &c); !errors.Is(err, wire.ErrValue) {
				t.Errorf("DecodeCommand = %v, want ErrValue", err)
			}
		})
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEncodersDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, wire.MaxPacket)
	s := fullSummary()
	c := burstChunk()
	st := wire.Status{}
	if n := testing.AllocsPerRun(100, func() {
		buf = wire.AppendSummary(buf[:0], &hdr, &s)
		buf = wire.AppendBurstChunk(buf[:0], &hdr, &c)
		buf = wire.AppendStatus(buf[:0], &hdr, &st)
	}); n != 0 {
		t.Errorf("encoders allocate %v times per run, want 0", n)
	}
}

func BenchmarkAppendSummary(b *testing.B) {
	buf := make([]byte, 0, wire.MaxPacket)
	s := fullSummary()
	b.ReportAllocs()
	b.SetBytes(wire.SummaryPacketLen)
	for b.Loop() {
		buf = wire.AppendSummary(buf[:0], &hdr, &s)
	}
}

func BenchmarkDecodeSummary(b *testing.B) {
	s := fullSummary()
	pkt := wire.AppendSummary(nil, &hdr, &s)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var h wire.Header
	for b.Loop() {
		p, err := wire.DecodeHeader(pkt, &h)
		if err != nil {
			b.Fatal(err)
		}
		if err := wire.DecodeSummary(p, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBurstChunk(b *testing.B) {
	buf := make([]byte, 0, wire.MaxPacket)
	c := burstChunk()
	c.Data = make([]int16, 3*wire.ChunkFrames(3))
	b.ReportAllocs()
	for b.Loop() {
		buf = wire.AppendBurstChunk(buf[:0], &hdr, &c)
	}
	b.SetBytes(int64(len(buf)))
}
