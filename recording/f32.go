package recording

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"

	"github.com/vibemon/vibemon"
)

// readF32 reads raw little-endian float32 frames of ch interleaved
// channels; size (0 when unknown) preallocates.
func readF32(r *bufio.Reader, ch int, rate float64, size int64) (*Recording, error) {
	if ch == 0 {
		ch = 1
	}
	if ch < 0 || ch > MaxAxes {
		return nil, vibemon.Errorf(vibemon.EINVALID, "--channels %d: want 1 to %d (one channel per axis)", ch, MaxAxes)
	}
	frame := 4 * ch
	samples := make([][]float64, ch)
	if size > 0 {
		for i := range samples {
			samples[i] = make([]float64, 0, size/int64(frame))
		}
	}
	buf := make([]byte, frame*4096)
	var total int64
	var carry int
	for {
		n, err := io.ReadFull(r, buf[carry:])
		n += carry
		total += int64(n - carry)
		whole := n / frame * frame
		for off := 0; off < whole; off += frame {
			fi := len(samples[0])
			for c := range ch {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[off+4*c:])))
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, vibemon.Errorf(vibemon.EINVALID, "%s at %s", badSample(v), where(fi, c, rate))
				}
				samples[c] = append(samples[c], v)
			}
		}
		carry = copy(buf, buf[whole:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if total%int64(frame) != 0 {
		if ch == 1 {
			return nil, vibemon.Errorf(vibemon.EINVALID, "file size %d bytes is not a multiple of 4 (float32 samples): the file is truncated or not raw float32", total)
		}
		return nil, vibemon.Errorf(vibemon.EINVALID, "file size %d bytes is not a multiple of %d (4 bytes × %d channels): wrong --channels, or a truncated file", total, frame, ch)
	}
	return &Recording{Axes: axisNames(ch), Samples: samples, Bits: 32, Float: true}, nil
}
