package recording

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
)

// WAVEncoding is a WAV sample encoding WriteWAV can write.
type WAVEncoding struct {
	Bits  int  // 16, 24 or 32 (integer), 32 or 64 (float)
	Float bool // IEEE float instead of integer PCM
}

// WriteWAV writes samples (one slice per channel, equal lengths) as a WAV
// file at rate Hz. Integer encodings store x as a fraction of full scale,
// clipped to [-1, 1): the inverse of what Read does with Scale 1.
func WriteWAV(w io.Writer, rate int, samples [][]float64, enc WAVEncoding) error {
	ch := len(samples)
	n := frames(samples)
	bps := enc.Bits / 8
	tag := uint16(wavPCM)
	if enc.Float {
		tag = wavFloat
	}
	data := n * ch * bps
	bw := bufio.NewWriter(w)
	le := binary.LittleEndian
	var h []byte
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, uint32(36+data))
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, tag)
	h = le.AppendUint16(h, uint16(ch))
	h = le.AppendUint32(h, uint32(rate))
	h = le.AppendUint32(h, uint32(rate*ch*bps))
	h = le.AppendUint16(h, uint16(ch*bps))
	h = le.AppendUint16(h, uint16(enc.Bits))
	h = append(h, "data"...)
	h = le.AppendUint32(h, uint32(data))
	bw.Write(h)
	var b [8]byte
	for i := range n {
		for c := range ch {
			x := samples[c][i]
			switch {
			case enc.Float && enc.Bits == 32:
				le.PutUint32(b[:], math.Float32bits(float32(x)))
			case enc.Float:
				le.PutUint64(b[:], math.Float64bits(x))
			default:
				full := float64(int64(1) << (enc.Bits - 1))
				v := int64(math.Round(max(-1, min(1, x)) * full))
				v = min(v, int64(full)-1)
				le.PutUint32(b[:], uint32(v))
			}
			bw.Write(b[:bps])
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}

// WriteF32 writes samples (one slice per channel) as raw little-endian
// float32 with the channels interleaved.
func WriteF32(w io.Writer, samples [][]float64) error {
	bw := bufio.NewWriter(w)
	var b [4]byte
	for i := range frames(samples) {
		for c := range samples {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(samples[c][i])))
			bw.Write(b[:])
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write f32: %w", err)
	}
	return nil
}

// WriteCSV writes samples as comma-separated text with a header row of
// names (one per channel) and, when rate > 0, a leading time column "t"
// in seconds. Values are written with the shortest representation that
// reads back to the same float64.
func WriteCSV(w io.Writer, rate float64, names []string, samples [][]float64) error {
	bw := bufio.NewWriter(w)
	var line []byte
	if rate > 0 {
		line = append(line, "t,"...)
	}
	for i, name := range names {
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, name...)
	}
	bw.Write(append(line, '\n'))
	for i := range frames(samples) {
		line = line[:0]
		if rate > 0 {
			line = strconv.AppendFloat(line, float64(i)/rate, 'g', -1, 64)
			line = append(line, ',')
		}
		for c := range samples {
			if c > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendFloat(line, samples[c][i], 'g', -1, 64)
		}
		bw.Write(append(line, '\n'))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func frames(samples [][]float64) int {
	if len(samples) == 0 {
		return 0
	}
	n := len(samples[0])
	for _, s := range samples {
		n = min(n, len(s))
	}
	return n
}
