package recording

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vibemon/vibemon"
)

// WAV format tags (the fmt chunk's wFormatTag).
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavExtensible = 0xFFFE
)

// wavTagNames names the encodings people meet, for the error message.
var wavTagNames = map[uint16]string{
	0x0002: "Microsoft ADPCM",
	0x0006: "A-law",
	0x0007: "µ-law",
	0x0011: "IMA ADPCM",
	0x0050: "MPEG",
	0x0055: "MP3",
}

// wavFmt is the part of a fmt chunk that decoding needs.
type wavFmt struct {
	tag      uint16
	channels int
	rate     uint32
	align    int
	bits     int
}

// readWAV reads a RIFF WAVE file: the fmt chunk, then the data chunk,
// skipping any other chunk (LIST, fact, cue, ...).
func readWAV(r *bufio.Reader, size int64) (*Recording, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, vibemon.Errorf(vibemon.EINVALID, "not a WAV file (%d bytes, shorter than a RIFF header)", size)
		}
		return nil, err
	}
	switch string(hdr[0:4]) {
	case "RIFF":
	case "RF64", "BW64":
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV encoding %s (64-bit RIFF) is not supported; want a plain RIFF WAV", hdr[0:4])
	default:
		return nil, vibemon.Errorf(vibemon.EINVALID, "not a WAV file (starts with %q, want \"RIFF\")", hdr[0:4])
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, vibemon.Errorf(vibemon.EINVALID, "not a WAV file (RIFF type %q, want \"WAVE\")", hdr[8:12])
	}
	var f *wavFmt
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if f == nil {
					return nil, vibemon.Errorf(vibemon.EINVALID, "WAV has no fmt chunk")
				}
				return nil, vibemon.Errorf(vibemon.EINVALID, "WAV has no data chunk")
			}
			return nil, err
		}
		id, n := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if n < 16 || n > 1<<16 {
				return nil, vibemon.Errorf(vibemon.EINVALID, "WAV fmt chunk of %d bytes, want 16 to 65536", n)
			}
			b := make([]byte, n+n%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, wavShort(err, "fmt chunk")
			}
			var err error
			if f, err = parseWAVFmt(b[:n]); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, vibemon.Errorf(vibemon.EINVALID, "WAV data chunk comes before its fmt chunk")
			}
			return readWAVData(r, f, n, size)
		default:
			if _, err := r.Discard(int(n) + int(n%2)); err != nil {
				return nil, wavShort(err, fmt.Sprintf("%q chunk", id))
			}
		}
	}
}

func wavShort(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return vibemon.Errorf(vibemon.EINVALID, "WAV file ends inside its %s", what)
	}
	return err
}

func parseWAVFmt(b []byte) (*wavFmt, error) {
	f := &wavFmt{
		tag:      binary.LittleEndian.Uint16(b[0:]),
		channels: int(binary.LittleEndian.Uint16(b[2:])),
		rate:     binary.LittleEndian.Uint32(b[4:]),
		align:    int(binary.LittleEndian.Uint16(b[12:])),
		bits:     int(binary.LittleEndian.Uint16(b[14:])),
	}
	if f.tag == wavExtensible {
		if len(b) < 40 {
			return nil, vibemon.Errorf(vibemon.EINVALID, "WAV extensible fmt chunk of %d bytes, want 40", len(b))
		}
		// The sub-format GUID starts with the plain format tag.
		f.tag = binary.LittleEndian.Uint16(b[24:])
	}
	name := wavTagNames[f.tag]
	if name == "" {
		name = fmt.Sprintf("format tag 0x%04x", f.tag)
	}
	switch {
	case f.tag == wavPCM && (f.bits == 16 || f.bits == 24 || f.bits == 32):
	case f.tag == wavFloat && (f.bits == 32 || f.bits == 64):
	case f.tag == wavPCM:
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV encoding %d-bit PCM is not supported; want PCM 16, 24 or 32-bit or float 32-bit", f.bits)
	case f.tag == wavFloat:
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV encoding %d-bit float is not supported; want PCM 16, 24 or 32-bit or float 32-bit", f.bits)
	default:
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV encoding %s is not supported; want PCM 16, 24 or 32-bit or float 32-bit", name)
	}
	if f.channels < 1 || f.channels > MaxAxes {
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV has %d channels; want 1 to %d (one per axis)", f.channels, MaxAxes)
	}
	if want := f.channels * f.bits / 8; f.align != want {
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV block align %d, want %d for %d channels of %d bits", f.align, want, f.channels, f.bits)
	}
	return f, nil
}

// readWAVData decodes the data chunk of n bytes. Writers that stream
// leave the size at 0 or 0xFFFFFFFF; then the data runs to the end.
func readWAVData(r *bufio.Reader, f *wavFmt, n uint32, size int64) (*Recording, error) {
	toEnd := n == 0 || n == 0xFFFFFFFF
	ch, bps := f.channels, f.bits/8
	samples := make([][]float64, ch)
	if !toEnd {
		if n%uint32(f.align) != 0 {
			return nil, vibemon.Errorf(vibemon.EINVALID, "WAV data chunk of %d bytes is not a whole number of %d-byte frames", n, f.align)
		}
		// Trust the chunk size for preallocation only as far as the
		// file's size confirms it.
		frames := min(int64(n), max(size, 1<<16)) / int64(f.align)
		for c := range samples {
			samples[c] = make([]float64, 0, frames)
		}
	}
	decode := sampleDecoder(f)
	buf := make([]byte, f.align*4096)
	var left = int64(n)
	var read int64
	for toEnd || left > 0 {
		want := len(buf)
		if !toEnd {
			want = int(min(int64(want), left))
		}
		m, err := io.ReadFull(r, buf[:want])
		read += int64(m)
		left -= int64(m)
		for off := 0; off+f.align <= m; off += f.align {
			fi := len(samples[0])
			for c := range ch {
				v := decode(buf[off+c*bps:])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, vibemon.Errorf(vibemon.EINVALID, "%s at %s", badSample(v), where(fi, c, float64(f.rate)))
				}
				samples[c] = append(samples[c], v)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if toEnd {
					break
				}
				return nil, vibemon.Errorf(vibemon.EINVALID, "WAV data chunk says %d bytes but the file ends after %d", n, read)
			}
			return nil, err
		}
	}
	if len(samples[0]) == 0 {
		return nil, vibemon.Errorf(vibemon.EINVALID, "WAV has no samples")
	}
	return &Recording{
		Rate: float64(f.rate), RateSource: "wav header",
		Axes: axisNames(ch), Samples: samples, Bits: f.bits, Float: f.tag == wavFloat,
	}, nil
}

// sampleDecoder returns the decoder of one sample: integers become
// fractions of full scale in [-1, 1).
func sampleDecoder(f *wavFmt) func([]byte) float64 {
	switch {
	case f.tag == wavFloat && f.bits == 32:
		return func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	case f.tag == wavFloat:
		return func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
	case f.bits == 16:
		return func(b []byte) float64 { return float64(int16(binary.LittleEndian.Uint16(b))) / (1 << 15) }
	case f.bits == 24:
		return func(b []byte) float64 {
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float64(v) / (1 << 23)
		}
	default:
		return func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31) }
	}
}
