package wire

import (
	"encoding/binary"
	"errors"
	"math"
)

// BurstChunk is one piece of a raw acceleration burst: a run of frames
// (one int16 per axis, interleaved x, y, z) with what is needed to
// reassemble and scale them.
type BurstChunk struct {
	BurstID     uint16 // node's burst counter; a new ID starts a new burst
	Index       uint16 // this chunk's number, 0..Count-1
	Count       uint16 // chunks in the burst
	FirstFrame  uint16 // frame index of Data's first frame
	TotalFrames uint16 // frames in the burst
	Axes        uint8  // values per frame, 1..3
	// RateMilliHz is the sample rate in mHz (1 kHz = 1_000_000).
	RateMilliHz uint32
	// Scale is g per count (1/2048 at ±16 g on an MPU6050).
	Scale float32
	// Data holds frames × Axes counts. A decoder reuses its capacity.
	Data []int16
}

// BurstHeaderLen is the length of a chunk's own header inside the payload.
const BurstHeaderLen = 20

// BurstFormatInt16 is the only sample format of version 1.
const BurstFormatInt16 = 0

// ChunkFrames returns how many frames of axes values fill one chunk.
func ChunkFrames(axes int) int {
	if axes < 1 {
		axes = 1
	}
	return (MaxPayload - BurstHeaderLen) / (2 * axes)
}

// AppendBurstChunk appends a burst chunk packet to dst. Data beyond
// ChunkFrames(Axes) frames, and a trailing partial frame, are not sent.
func AppendBurstChunk(dst []byte, h *Header, c *BurstChunk) []byte {
	axes := max(1, int(c.Axes))
	frames := min(len(c.Data)/axes, ChunkFrames(axes))
	n := frames * axes
	start := len(dst)
	dst = beginPacket(dst, h, TypeBurstChunk, BurstHeaderLen+2*n)
	dst = binary.LittleEndian.AppendUint16(dst, c.BurstID)
	dst = binary.LittleEndian.AppendUint16(dst, c.Index)
	dst = binary.LittleEndian.AppendUint16(dst, c.Count)
	dst = binary.LittleEndian.AppendUint16(dst, c.FirstFrame)
	dst = binary.LittleEndian.AppendUint16(dst, c.TotalFrames)
	dst = append(dst, c.Axes, BurstFormatInt16)
	dst = binary.LittleEndian.AppendUint32(dst, c.RateMilliHz)
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(c.Scale))
	for _, v := range c.Data[:n] {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(v))
	}
	return endPacket(dst, start)
}

// DecodeBurstChunk fills c from the payload of a TypeBurstChunk packet,
// reusing c.Data's capacity. Errors: ErrLength, ErrValue (axes not 1..3,
// unknown format, Index >= Count, no frames, frames past TotalFrames, a
// scale that is not a finite positive number, a zero rate).
func DecodeBurstChunk(p []byte, c *BurstChunk) error {
	if len(p) < BurstHeaderLen {
		return ErrLength
	}
	c.BurstID = binary.LittleEndian.Uint16(p)
	c.Index = binary.LittleEndian.Uint16(p[2:])
	c.Count = binary.LittleEndian.Uint16(p[4:])
	c.FirstFrame = binary.LittleEndian.Uint16(p[6:])
	c.TotalFrames = binary.LittleEndian.Uint16(p[8:])
	c.Axes = p[10]
	format := p[11]
	c.RateMilliHz = binary.LittleEndian.Uint32(p[12:])
	c.Scale = math.Float32frombits(binary.LittleEndian.Uint32(p[16:]))
	body := p[BurstHeaderLen:]
	if c.Axes < 1 || c.Axes > 3 || format != BurstFormatInt16 {
		return ErrValue
	}
	if len(body)%(2*int(c.Axes)) != 0 {
		return ErrLength
	}
	frames := len(body) / (2 * int(c.Axes))
	if c.Index >= c.Count || frames == 0 || int(c.FirstFrame)+frames > int(c.TotalFrames) || c.RateMilliHz == 0 {
		return ErrValue
	}
	if !(c.Scale > 0) || math.IsInf(float64(c.Scale), 0) {
		return ErrValue
	}
	c.Data = c.Data[:0]
	for i := 0; i < len(body); i += 2 {
		c.Data = append(c.Data, int16(binary.LittleEndian.Uint16(body[i:])))
	}
	return nil
}

// ErrBurstTooLarge is returned by Reassembler.Add for a burst larger than
// the reassembler was made for.
var ErrBurstTooLarge = errors.New("wire: burst larger than the reassembler's buffer")

// ErrBurstMismatch is returned by Reassembler.Add for a chunk whose burst
// parameters differ from the earlier chunks of the same burst.
var ErrBurstMismatch = errors.New("wire: chunk disagrees with its burst")

// Reassembler puts a burst's chunks back together, in any order and with
// duplicates. It tracks which frames arrived (not which chunk numbers), so
// a burst is complete exactly when every frame is present. A chunk with a
// new BurstID abandons the burst in progress. It allocates only in
// NewReassembler.
type Reassembler struct {
	data     []int16
	max      int      // frames
	got      []uint64 // one bit per frame
	have     int      // frames received
	meta     BurstChunk
	active   bool
	complete bool
}

// NewReassembler returns a reassembler for bursts of up to maxFrames
// frames of up to three axes.
func NewReassembler(maxFrames int) *Reassembler {
	return &Reassembler{
		data: make([]int16, 3*maxFrames),
		max:  maxFrames,
		got:  make([]uint64, (maxFrames+63)/64),
	}
}

// Reset abandons the burst in progress.
func (r *Reassembler) Reset() { r.active, r.complete, r.have = false, false, 0 }

// Add stores a decoded chunk and reports whether its burst is now
// complete. Errors: ErrBurstTooLarge, ErrBurstMismatch, ErrValue (an
// inconsistent chunk, as DecodeBurstChunk checks).
func (r *Reassembler) Add(c *BurstChunk) (complete bool, err error) {
	axes := int(c.Axes)
	if axes < 1 || axes > 3 || c.Index >= c.Count || len(c.Data)%axes != 0 || len(c.Data) == 0 ||
		int(c.FirstFrame)+len(c.Data)/axes > int(c.TotalFrames) {
		return false, ErrValue
	}
	if !r.active || c.BurstID != r.meta.BurstID {
		if int(c.TotalFrames) > r.max {
			return false, ErrBurstTooLarge
		}
		r.meta = *c
		r.meta.Data = nil
		r.active, r.complete, r.have = true, false, 0
		clear(r.got[:(int(c.TotalFrames)+63)/64])
	} else if c.Count != r.meta.Count || c.TotalFrames != r.meta.TotalFrames || c.Axes != r.meta.Axes ||
		c.RateMilliHz != r.meta.RateMilliHz || c.Scale != r.meta.Scale {
		return r.complete, ErrBurstMismatch
	}
	frames := len(c.Data) / axes
	copy(r.data[int(c.FirstFrame)*axes:], c.Data)
	for f := int(c.FirstFrame); f < int(c.FirstFrame)+frames; f++ {
		if r.got[f/64]&(1<<(f%64)) == 0 {
			r.got[f/64] |= 1 << (f % 64)
			r.have++
		}
	}
	r.complete = r.have == int(r.meta.TotalFrames)
	return r.complete, nil
}

// Progress returns how many frames of the current burst have arrived and
// how many it has.
func (r *Reassembler) Progress() (have, total int) {
	if !r.active {
		return 0, 0
	}
	return r.have, int(r.meta.TotalFrames)
}

// Burst returns the complete burst: its parameters (Data nil) and its
// interleaved counts, a slice of the reassembler's buffer valid until the
// next Add. ok is false while frames are missing.
func (r *Reassembler) Burst() (meta BurstChunk, data []int16, ok bool) {
	if !r.complete {
		return BurstChunk{}, nil, false
	}
	return r.meta, r.data[:int(r.meta.TotalFrames)*int(r.meta.Axes)], true
}
