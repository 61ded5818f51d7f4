package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// Op is a control or OTA command's opcode.
type Op uint8

// Control opcodes, written to the Control characteristic.
const (
	OpSetTime        Op = 0x01 // Time: wall-clock ms since the Unix epoch
	OpStartStreaming Op = 0x02 // send each summary live as it is made
	OpStopStreaming  Op = 0x03 // keep summaries in the buffer, send status only
	OpSetInterval    Op = 0x04 // IntervalS: seconds between summaries, 1..65535
	OpSetRanges      Op = 0x05 // RangeG 2/4/8/16, SampleRate 10..1000 Hz, Window power of two 256..4096
	OpRequestBurst   Op = 0x06 // Frames 1..65535, SampleRate 10..1000 Hz
	OpResumeFrom     Op = 0x07 // Seq: resend buffered summaries from Seq on
	OpEnterPairing   Op = 0x08 // forget bonds and advertise for pairing
	OpReboot         Op = 0x09
	OpRequestStatus  Op = 0x0A // notify a status packet now
)

// OTA opcodes, written to the OTA Control characteristic.
const (
	OpOTABegin  Op = 0x21 // Size, Version, SHA256, Signature
	OpOTACommit Op = 0x22 // verify the whole image, activate it and reboot
	OpOTAAbort  Op = 0x23 // forget the transfer
	OpOTAQuery  Op = 0x24 // notify an OTA status packet
)

// Command is a decoded control or OTA command; only the fields of its Op
// are meaningful.
type Command struct {
	Op         Op
	Time       uint64 // OpSetTime
	IntervalS  uint16 // OpSetInterval
	RangeG     uint8  // OpSetRanges
	SampleRate uint16 // OpSetRanges, OpRequestBurst (Hz)
	Window     uint16 // OpSetRanges (samples)
	Frames     uint16 // OpRequestBurst
	Seq        uint32 // OpResumeFrom
	// OTA image description (OpOTABegin).
	Size      uint32
	Version   [3]uint8
	SHA256    [32]byte
	Signature [64]byte
}

// argLen returns the argument length of op, -1 for an unknown op.
func argLen(op Op) int {
	switch op {
	case OpSetTime:
		return 8
	case OpStartStreaming, OpStopStreaming, OpEnterPairing, OpReboot, OpRequestStatus,
		OpOTACommit, OpOTAAbort, OpOTAQuery:
		return 0
	case OpSetInterval:
		return 2
	case OpSetRanges:
		return 6
	case OpRequestBurst:
		return 4
	case OpResumeFrom:
		return 4
	case OpOTABegin:
		return 4 + 3 + 1 + 32 + 64
	}
	return -1
}

// MaxCommandLen is the longest command (OpOTABegin), 109 bytes; at the
// default MTU the central writes it as an ATT long write.
const MaxCommandLen = 3 + 104 + CRCLen

// AppendCommand appends command c: version, opcode, argument length,
// arguments, CRC-16. An unknown Op is appended with no arguments.
func AppendCommand(dst []byte, c *Command) []byte {
	start := len(dst)
	n := max(0, argLen(c.Op))
	dst = append(dst, Version, byte(c.Op), byte(n))
	le := binary.LittleEndian
	switch c.Op {
	case OpSetTime:
		dst = le.AppendUint64(dst, c.Time)
	case OpSetInterval:
		dst = le.AppendUint16(dst, c.IntervalS)
	case OpSetRanges:
		dst = append(dst, c.RangeG, 0)
		dst = le.AppendUint16(dst, c.SampleRate)
		dst = le.AppendUint16(dst, c.Window)
	case OpRequestBurst:
		dst = le.AppendUint16(dst, c.Frames)
		dst = le.AppendUint16(dst, c.SampleRate)
	case OpResumeFrom:
		dst = le.AppendUint32(dst, c.Seq)
	case OpOTABegin:
		dst = le.AppendUint32(dst, c.Size)
		dst = append(dst, c.Version[0], c.Version[1], c.Version[2], 0)
		dst = append(dst, c.SHA256[:]...)
		dst = append(dst, c.Signature[:]...)
	}
	return endPacket(dst, start)
}

// DecodeCommand fills c from a command as written to the Control or OTA
// Control characteristic, and checks its values. Errors: ErrShort,
// ErrVersion, ErrLength, ErrCRC, ErrType (unknown opcode), ErrValue.
func DecodeCommand(b []byte, c *Command) error {
	if len(b) < 3+CRCLen {
		return ErrShort
	}
	if b[0] != Version {
		return ErrVersion
	}
	n := int(b[2])
	if len(b) != 3+n+CRCLen {
		return ErrLength
	}
	le := binary.LittleEndian
	if le.Uint16(b[3+n:]) != CRC16(b[:3+n]) {
		return ErrCRC
	}
	op := Op(b[1])
	want := argLen(op)
	if want < 0 {
		return ErrType
	}
	if n != want {
		return ErrLength
	}
	*c = Command{Op: op}
	a := b[3 : 3+n]
	switch op {
	case OpSetTime:
		c.Time = le.Uint64(a)
	case OpSetInterval:
		c.IntervalS = le.Uint16(a)
		if c.IntervalS == 0 {
			return ErrValue
		}
	case OpSetRanges:
		c.RangeG, c.SampleRate, c.Window = a[0], le.Uint16(a[2:]), le.Uint16(a[4:])
		if a[1] != 0 || !validRange(c.RangeG) || !validRate(c.SampleRate) ||
			c.Window < 256 || c.Window > 4096 || c.Window&(c.Window-1) != 0 {
			return ErrValue
		}
	case OpRequestBurst:
		c.Frames, c.SampleRate = le.Uint16(a), le.Uint16(a[2:])
		if c.Frames == 0 || !validRate(c.SampleRate) {
			return ErrValue
		}
	case OpResumeFrom:
		c.Seq = le.Uint32(a)
	case OpOTABegin:
		c.Size = le.Uint32(a)
		c.Version = [3]uint8{a[4], a[5], a[6]}
		copy(c.SHA256[:], a[8:40])
		copy(c.Signature[:], a[40:104])
		if a[7] != 0 || c.Size == 0 {
			return ErrValue
		}
	}
	return nil
}

func validRange(g uint8) bool  { return g == 2 || g == 4 || g == 8 || g == 16 }
func validRate(hz uint16) bool { return hz >= 10 && hz <= 1000 }

// OTAState is the OTA receiver's state in an OTA status packet.
type OTAState uint8

// OTA receiver states.
const (
	OTAIdle      OTAState = 0 // no transfer
	OTAReceiving OTAState = 1 // Begin accepted; NextOffset says where to go on
	OTAVerifying OTAState = 2 // Commit received; checking hash and signature
	OTAReady     OTAState = 3 // verified and activated; rebooting into it
	OTAFailed    OTAState = 4 // Error says why; send Begin again
)

// OTAError says why an OTA step failed.
type OTAError uint8

// OTA errors.
const (
	OTAOK           OTAError = 0
	OTAErrChunkCRC  OTAError = 1 // a data chunk failed its CRC-32; resend from NextOffset
	OTAErrOffset    OTAError = 2 // a chunk was not at NextOffset
	OTAErrTooLarge  OTAError = 3 // the image does not fit the update slot
	OTAErrHash      OTAError = 4 // the image's SHA-256 differs from Begin's
	OTAErrSignature OTAError = 5 // the signature does not verify
	OTAErrFlash     OTAError = 6 // writing or reading the slot failed
	OTAErrState     OTAError = 7 // command not valid now (data before Begin, Commit early)
	OTAErrDowngrade OTAError = 8 // version not newer than the running one
)

// OTAStatus is the OTA receiver's progress, notified on OTA Control after
// every command, on OpOTAQuery, and every 16 chunks while receiving.
type OTAStatus struct {
	State      OTAState
	Error      OTAError
	Version    [3]uint8 // the image being received
	MaxChunk   uint16   // largest OTA data chunk the node accepts
	Size       uint32   // image size
	NextOffset uint32   // bytes stored durably; the sender resumes here
}

// OTAStatusPayloadLen is the payload length of an OTA status packet.
const OTAStatusPayloadLen = 16

// AppendOTAStatus appends an OTA status packet to dst.
func AppendOTAStatus(dst []byte, h *Header, s *OTAStatus) []byte {
	start := len(dst)
	dst = beginPacket(dst, h, TypeOTAStatus, OTAStatusPayloadLen)
	dst = append(dst, byte(s.State), byte(s.Error), s.Version[0], s.Version[1], s.Version[2], 0)
	dst = binary.LittleEndian.AppendUint16(dst, s.MaxChunk)
	dst = binary.LittleEndian.AppendUint32(dst, s.Size)
	dst = binary.LittleEndian.AppendUint32(dst, s.NextOffset)
	return endPacket(dst, start)
}

// DecodeOTAStatus fills s from the payload of a TypeOTAStatus packet.
// Errors: ErrLength, ErrValue (reserved byte not zero, unknown state).
func DecodeOTAStatus(p []byte, s *OTAStatus) error {
	if len(p) != OTAStatusPayloadLen {
		return ErrLength
	}
	if p[5] != 0 || p[0] > byte(OTAFailed) {
		return ErrValue
	}
	s.State, s.Error = OTAState(p[0]), OTAError(p[1])
	s.Version = [3]uint8{p[2], p[3], p[4]}
	s.MaxChunk = binary.LittleEndian.Uint16(p[6:])
	s.Size = binary.LittleEndian.Uint32(p[8:])
	s.NextOffset = binary.LittleEndian.Uint32(p[12:])
	return nil
}

// OTA data chunk framing: version, offset (uint32), data, CRC-32 (IEEE)
// of everything before it.
const (
	OTADataOverhead = 1 + 4 + 4
	// MaxOTAChunk is the most image bytes in one OTA data write.
	MaxOTAChunk = MaxPacket - OTADataOverhead
)

// AppendOTAData appends an OTA data write carrying data at offset off.
// Data beyond MaxOTAChunk bytes is not sent.
func AppendOTAData(dst []byte, off uint32, data []byte) []byte {
	start := len(dst)
	data = data[:min(len(data), MaxOTAChunk)]
	dst = append(dst, Version)
	dst = binary.LittleEndian.AppendUint32(dst, off)
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// DecodeOTAData checks an OTA data write and returns its offset and data
// (a sub-slice of b). Errors: ErrShort (no data), ErrLength (over
// MaxPacket), ErrVersion, ErrCRC.
func DecodeOTAData(b []byte) (off uint32, data []byte, err error) {
	if len(b) < OTADataOverhead+1 {
		return 0, nil, ErrShort
	}
	if len(b) > MaxPacket {
		return 0, nil, ErrLength
	}
	if b[0] != Version {
		return 0, nil, ErrVersion
	}
	n := len(b) - 4
	if binary.LittleEndian.Uint32(b[n:]) != crc32.ChecksumIEEE(b[:n]) {
		return 0, nil, ErrCRC
	}
	return binary.LittleEndian.Uint32(b[1:]), b[5:n], nil
}
