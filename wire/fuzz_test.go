package wire_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/vibemon/vibemon/wire"
)

// seed adds every golden vector to a fuzz corpus.
func seed(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden vectors in %s: %v", goldenDir, err)
	}
	for _, p := range files {
		f.Add(readHex(f, p))
	}
}

// fuzzPacket decodes pkt's frame, runs decode on the payload whatever the
// type says (so every decoder sees every shape), and when that succeeds
// checks that encode gives back the very same bytes: decoders accept only
// canonical encodings, so a packet has one meaning.
func fuzzPacket(t *testing.T, pkt []byte, t0 wire.Type, decode func(p []byte) error, encode func(h *wire.Header) []byte) {
	var h wire.Header
	p, err := wire.DecodeHeader(pkt, &h)
	if err != nil {
		return
	}
	if err := decode(p); err != nil || h.Type != t0 {
		return
	}
	if got := encode(&h); !bytes.Equal(got, pkt) {
		t.Fatalf("re-encoded packet differs:\n got %x\nwant %x", got, pkt)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var h wire.Header
		p, err := wire.DecodeHeader(pkt, &h)
		if err != nil {
			return
		}
		if len(p) != len(pkt)-wire.HeaderLen-wire.CRCLen || wire.PacketLen(pkt) != len(pkt) || len(pkt) > wire.MaxPacket {
			t.Fatalf("payload %d bytes of a %d-byte packet", len(p), len(pkt))
		}
	})
}

func FuzzDecodeSummary(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var s wire.Summary
		fuzzPacket(t, pkt, wire.TypeSummary, func(p []byte) error { return wire.DecodeSummary(p, &s) },
			func(h *wire.Header) []byte { return wire.AppendSummary(nil, h, &s) })
	})
}

func FuzzDecodeBurstChunk(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var c wire.BurstChunk
		fuzzPacket(t, pkt, wire.TypeBurstChunk, func(p []byte) error { return wire.DecodeBurstChunk(p, &c) },
			func(h *wire.Header) []byte { return wire.AppendBurstChunk(nil, h, &c) })
	})
}

func FuzzDecodeStatus(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var s wire.Status
		fuzzPacket(t, pkt, wire.TypeStatus, func(p []byte) error { return wire.DecodeStatus(p, &s) },
			func(h *wire.Header) []byte { return wire.AppendStatus(nil, h, &s) })
	})
}

func FuzzDecodeEvent(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var e wire.Event
		fuzzPacket(t, pkt, wire.TypeEvent, func(p []byte) error { return wire.DecodeEvent(p, &e) },
			func(h *wire.Header) []byte { return wire.AppendEvent(nil, h, &e) })
	})
}

func FuzzDecodeOTAStatus(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var s wire.OTAStatus
		fuzzPacket(t, pkt, wire.TypeOTAStatus, func(p []byte) error { return wire.DecodeOTAStatus(p, &s) },
			func(h *wire.Header) []byte { return wire.AppendOTAStatus(nil, h, &s) })
	})
}

func FuzzDecodeDeviceInfo(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var d wire.DeviceInfo
		fuzzPacket(t, pkt, wire.TypeDeviceInfo, func(p []byte) error { return wire.DecodeDeviceInfo(p, &d) },
			func(h *wire.Header) []byte { return wire.AppendDeviceInfo(nil, h, &d) })
	})
}

func FuzzDecodeCommand(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c wire.Command
		if wire.DecodeCommand(b, &c) != nil {
			return
		}
		if got := wire.AppendCommand(nil, &c); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded command differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeOTAData(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		off, data, err := wire.DecodeOTAData(b)
		if err != nil {
			return
		}
		if got := wire.AppendOTAData(nil, off, data); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded OTA data differs:\n got %x\nwant %x", got, b)
		}
	})
}

// FuzzReassembler feeds a stream of notifications (the input cut at
// arbitrary points) through a Defragmenter, the burst chunk decoder and a
// Reassembler: nothing may panic, and a complete burst has every frame.
func FuzzReassembler(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := wire.NewReassembler(256)
		var d wire.Defragmenter
		var c wire.BurstChunk
		for i := 0; len(stream) > 0; i++ {
			n := 1 + int(stream[0])%wire.MaxPacket
			frag := stream[:min(n, len(stream))]
			stream = stream[len(frag):]
			pkt, err := d.Feed(frag)
			if err != nil || pkt == nil {
				continue
			}
			var h wire.Header
			p, err := wire.DecodeHeader(pkt, &h)
			if err != nil || wire.DecodeBurstChunk(p, &c) != nil {
				continue
			}
			done, _ := r.Add(&c)
			have, total := r.Progress()
			if have > total {
				t.Fatalf("%d of %d frames", have, total)
			}
			if meta, data, ok := r.Burst(); ok != done || (ok && len(data) != total*int(meta.Axes)) {
				t.Fatalf("Burst ok=%v after Add done=%v", ok, done)
			}
		}
	})
}
