package wire

import (
	"encoding/binary"
	"errors"
)

// Version is the protocol version every packet carries in its first byte.
// A decoder rejects any other version with ErrVersion.
const Version = 1

// Type is the kind of a packet (byte 1 of the header).
type Type uint8

// Packet types. Values are fixed by docs/protocol.md; new types get new
// numbers, a changed layout gets a new Version.
const (
	TypeSummary    Type = 1 // feature summary, one per measurement window
	TypeBurstChunk Type = 2 // one numbered piece of a raw acceleration burst
	TypeStatus     Type = 3 // battery, temperature, firmware, uptime, buffer
	TypeEvent      Type = 4 // something happened: boot, data lost, fault
	TypeOTAStatus  Type = 5 // OTA receiver progress, notified on OTA control
	TypeDeviceInfo Type = 6 // identity and capabilities, the Device Info value
)

// Header flags (byte 2).
const (
	// FlagUptime marks a timestamp that counts milliseconds since boot
	// because the node's clock has not been set yet.
	FlagUptime = 1 << 0
	// FlagReplay marks a packet resent from the node's buffer (after a
	// reconnect or a ResumeFrom command) rather than sent live.
	FlagReplay = 1 << 1
)

// HeaderLen is the length of the fixed header; CRCLen of the trailing
// CRC-16. A packet is HeaderLen + payload + CRCLen bytes.
const (
	HeaderLen  = 16
	CRCLen     = 2
	MaxPayload = MaxPacket - HeaderLen - CRCLen
)

// Header is the fixed part every packet starts with.
type Header struct {
	Type  Type
	Flags uint8
	// Seq is the summary sequence: a summary's own number (0, 1, 2, ...
	// per device for its life, dense across reboots); every other packet
	// carries the number the next summary will take and consumes none.
	Seq uint32
	// Time is the device time in milliseconds since the Unix epoch, or
	// since boot when Flags has FlagUptime.
	Time uint64
}

// Errors a decoder returns. They are sentinels because a gateway branches
// on them (count CRC errors, drop unknown types, resynchronise).
var (
	ErrShort   = errors.New("wire: packet too short")
	ErrLength  = errors.New("wire: length field does not match")
	ErrVersion = errors.New("wire: unsupported protocol version")
	ErrCRC     = errors.New("wire: CRC mismatch")
	ErrType    = errors.New("wire: unexpected packet type")
	ErrValue   = errors.New("wire: field value out of range")
)

// beginPacket appends the header of a packet whose payload length is n.
func beginPacket(dst []byte, h *Header, t Type, n int) []byte {
	dst = append(dst, Version, byte(t), h.Flags, byte(n))
	dst = binary.LittleEndian.AppendUint32(dst, h.Seq)
	return binary.LittleEndian.AppendUint64(dst, h.Time)
}

// endPacket appends the CRC over the packet that starts at start.
func endPacket(dst []byte, start int) []byte {
	return binary.LittleEndian.AppendUint16(dst, CRC16(dst[start:]))
}

// PacketLen returns the total length of the packet that b starts with, as
// its header says, or 0 when b holds fewer than 4 bytes. Defragmenters use
// it to know when a packet is complete.
func PacketLen(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return HeaderLen + int(b[3]) + CRCLen
}

// DecodeHeader checks the frame of pkt (length, version, CRC) and fills h.
// It returns the payload, a sub-slice of pkt. Errors: ErrShort, ErrLength,
// ErrVersion, ErrCRC.
func DecodeHeader(pkt []byte, h *Header) (payload []byte, err error) {
	if len(pkt) < HeaderLen+CRCLen {
		return nil, ErrShort
	}
	if pkt[0] != Version {
		return nil, ErrVersion
	}
	n := int(pkt[3])
	if n > MaxPayload || len(pkt) != HeaderLen+n+CRCLen {
		return nil, ErrLength
	}
	body := pkt[:HeaderLen+n]
	if binary.LittleEndian.Uint16(pkt[HeaderLen+n:]) != CRC16(body) {
		return nil, ErrCRC
	}
	h.Type = Type(pkt[1])
	h.Flags = pkt[2]
	h.Seq = binary.LittleEndian.Uint32(pkt[4:])
	h.Time = binary.LittleEndian.Uint64(pkt[8:])
	return pkt[HeaderLen : HeaderLen+n], nil
}
