package wire

import "encoding/binary"

// ResetReason says why the node last started (Status.ResetReason and the
// Boot event's Arg1).
type ResetReason uint8

// Reset reasons.
const (
	ResetUnknown   ResetReason = 0
	ResetPowerOn   ResetReason = 1
	ResetSoftware  ResetReason = 2 // a Reboot command or an internal restart
	ResetWatchdog  ResetReason = 3
	ResetBrownout  ResetReason = 4
	ResetDeepSleep ResetReason = 5 // woke from the deep-sleep timer
	ResetPanic     ResetReason = 6
	ResetOTA       ResetReason = 7 // first boot of a new image
	ResetRollback  ResetReason = 8 // the new image was not confirmed
)

// Status flags.
const (
	StatusClockSet     = 1 << 0 // device time is wall-clock time
	StatusStreaming    = 1 << 1 // summaries are sent live
	StatusBonded       = 1 << 2 // the node has a bonded central
	StatusPendingOTA   = 1 << 3 // running a new image not yet confirmed
	StatusSensorFault  = 1 << 4 // a sensor failed its last read
	StatusLowBattery   = 1 << 5 // battery under the low-battery threshold
	StatusRingOverflow = 1 << 6 // summaries were dropped since the last status
)

// Status is the node's health, sent on connect, on request and every
// status interval.
type Status struct {
	BatteryV    float32 // V, 1 mV steps; NaN unknown
	TempC       float32 // probe temperature, 1/128 °C steps; NaN unknown
	Firmware    [3]uint8
	ResetReason ResetReason
	UptimeS     uint32
	State       uint8 // the node's state machine state (firmware.State)
	Flags       uint8
	Buffered    uint16 // summaries waiting in the ring buffer
	Capacity    uint16 // ring buffer capacity, summaries
	// Dropped counts summaries lost because the ring buffer was full,
	// since the node was first flashed; it never decreases.
	Dropped   uint32
	IntervalS uint16 // summary interval, s
}

// StatusPayloadLen is the payload length of a status packet.
const StatusPayloadLen = 24

// AppendStatus appends a status packet to dst.
func AppendStatus(dst []byte, h *Header, s *Status) []byte {
	start := len(dst)
	dst = beginPacket(dst, h, TypeStatus, StatusPayloadLen)
	dst = binary.LittleEndian.AppendUint16(dst, BatteryV.Quantize(s.BatteryV))
	dst = binary.LittleEndian.AppendUint16(dst, TempC.Quantize(s.TempC))
	dst = append(dst, s.Firmware[0], s.Firmware[1], s.Firmware[2], byte(s.ResetReason))
	dst = binary.LittleEndian.AppendUint32(dst, s.UptimeS)
	dst = append(dst, s.State, s.Flags)
	dst = binary.LittleEndian.AppendUint16(dst, s.Buffered)
	dst = binary.LittleEndian.AppendUint16(dst, s.Capacity)
	dst = binary.LittleEndian.AppendUint32(dst, s.Dropped)
	dst = binary.LittleEndian.AppendUint16(dst, s.IntervalS)
	return endPacket(dst, start)
}

// DecodeStatus fills s from the payload of a TypeStatus packet.
// Errors: ErrLength.
func DecodeStatus(p []byte, s *Status) error {
	if len(p) != StatusPayloadLen {
		return ErrLength
	}
	s.BatteryV = BatteryV.Dequantize(binary.LittleEndian.Uint16(p))
	s.TempC = TempC.Dequantize(binary.LittleEndian.Uint16(p[2:]))
	s.Firmware = [3]uint8{p[4], p[5], p[6]}
	s.ResetReason = ResetReason(p[7])
	s.UptimeS = binary.LittleEndian.Uint32(p[8:])
	s.State, s.Flags = p[12], p[13]
	s.Buffered = binary.LittleEndian.Uint16(p[14:])
	s.Capacity = binary.LittleEndian.Uint16(p[16:])
	s.Dropped = binary.LittleEndian.Uint32(p[18:])
	s.IntervalS = binary.LittleEndian.Uint16(p[22:])
	return nil
}

// EventCode names an event. Decoders accept codes they do not know, so a
// newer node can talk to an older gateway.
type EventCode uint8

// Event codes and the meaning of their arguments.
const (
	EventBoot            EventCode = 1 // Arg1 reset reason, Arg2 boot count
	EventDataLost        EventCode = 2 // Arg1 summaries dropped, Arg2 Seq of the first dropped
	EventSensorFault     EventCode = 3 // Arg1 sensor (1 accel, 2 temp, 3 battery), Arg2 consecutive failures
	EventClockSet        EventCode = 4 // Arg1 old time (s, low 32 bits), Arg2 new time (s, low 32 bits)
	EventCentralRejected EventCode = 5 // Arg1 reason (1 busy, 2 not bonded)
	EventOTAResult       EventCode = 6 // Arg1 OTAError (0 success), Arg2 version as 0x00MMmmpp
	EventFIFOOverflow    EventCode = 7 // Arg1 windows discarded
	EventRollback        EventCode = 8 // Arg1 rejected version 0x00MMmmpp
	EventBurstReady      EventCode = 9 // Arg1 burst ID, Arg2 frames
)

// Event is something that happened on the node.
type Event struct {
	Code       EventCode
	Arg1, Arg2 uint32
}

// EventPayloadLen is the payload length of an event packet.
const EventPayloadLen = 10

// AppendEvent appends an event packet to dst.
func AppendEvent(dst []byte, h *Header, e *Event) []byte {
	start := len(dst)
	dst = beginPacket(dst, h, TypeEvent, EventPayloadLen)
	dst = append(dst, byte(e.Code), 0)
	dst = binary.LittleEndian.AppendUint32(dst, e.Arg1)
	dst = binary.LittleEndian.AppendUint32(dst, e.Arg2)
	return endPacket(dst, start)
}

// DecodeEvent fills e from the payload of a TypeEvent packet.
// Errors: ErrLength, ErrValue (reserved byte not zero).
func DecodeEvent(p []byte, e *Event) error {
	if len(p) != EventPayloadLen {
		return ErrLength
	}
	if p[1] != 0 {
		return ErrValue
	}
	e.Code = EventCode(p[0])
	e.Arg1 = binary.LittleEndian.Uint32(p[2:])
	e.Arg2 = binary.LittleEndian.Uint32(p[6:])
	return nil
}

// Hardware models in DeviceInfo.
const (
	HardwareUnknown = 0
	HardwareESP32C3 = 1
	HardwareESP32S3 = 2
	HardwareSim     = 255 // the host simulator
)

// Capability flags in DeviceInfo.
const (
	CapAccel = 1 << 0
	CapTemp  = 1 << 1
	CapBurst = 1 << 2
	CapOTA   = 1 << 3
)

// DeviceInfo is the value of the Device Info characteristic.
type DeviceInfo struct {
	Serial       [8]byte // factory MAC-derived serial
	Hardware     uint8
	Protocol     uint8 // wire.Version the node speaks
	Firmware     [3]uint8
	Caps         uint8
	MaxRateHz    uint16
	MaxBurst     uint16 // frames
	RingCapacity uint16 // summaries
}

// DeviceInfoPayloadLen is the payload length of a device info packet.
const DeviceInfoPayloadLen = 20

// AppendDeviceInfo appends a device info packet to dst.
func AppendDeviceInfo(dst []byte, h *Header, d *DeviceInfo) []byte {
	start := len(dst)
	dst = beginPacket(dst, h, TypeDeviceInfo, DeviceInfoPayloadLen)
	dst = append(dst, d.Serial[:]...)
	dst = append(dst, d.Hardware, d.Protocol, d.Firmware[0], d.Firmware[1], d.Firmware[2], d.Caps)
	dst = binary.LittleEndian.AppendUint16(dst, d.MaxRateHz)
	dst = binary.LittleEndian.AppendUint16(dst, d.MaxBurst)
	dst = binary.LittleEndian.AppendUint16(dst, d.RingCapacity)
	return endPacket(dst, start)
}

// DecodeDeviceInfo fills d from the payload of a TypeDeviceInfo packet.
// Errors: ErrLength.
func DecodeDeviceInfo(p []byte, d *DeviceInfo) error {
	if len(p) != DeviceInfoPayloadLen {
		return ErrLength
	}
	copy(d.Serial[:], p)
	d.Hardware, d.Protocol = p[8], p[9]
	d.Firmware = [3]uint8{p[10], p[11], p[12]}
	d.Caps = p[13]
	d.MaxRateHz = binary.LittleEndian.Uint16(p[14:])
	d.MaxBurst = binary.LittleEndian.Uint16(p[16:])
	d.RingCapacity = binary.LittleEndian.Uint16(p[18:])
	return nil
}
