package wire

import (
	"encoding/binary"
	"math"
)

// Metric indexes Summary.Values. The order and names are those of the
// server's vibemon.Metric (acc_rms_x ... battery_v); the radio strength is
// measured by the gateway and is not on the wire.
type Metric uint8

// The metrics a summary carries, in wire order.
const (
	AccRMSX Metric = iota // g
	AccRMSY
	AccRMSZ
	AccPeakX // g
	AccPeakY
	AccPeakZ
	VelRMSX // mm/s
	VelRMSY
	VelRMSZ
	CrestX // dimensionless
	CrestY
	CrestZ
	KurtosisX // dimensionless
	KurtosisY
	KurtosisZ
	TempC    // °C
	BatteryV // V

	NumMetrics = iota // metrics in a summary
)

var metricNames = [NumMetrics]string{
	"acc_rms_x", "acc_rms_y", "acc_rms_z",
	"acc_peak_x", "acc_peak_y", "acc_peak_z",
	"vel_rms_x", "vel_rms_y", "vel_rms_z",
	"crest_x", "crest_y", "crest_z",
	"kurtosis_x", "kurtosis_y", "kurtosis_z",
	"temp_c", "battery_v",
}

// String returns the metric's name, the same as the server's column name.
func (m Metric) String() string {
	if int(m) >= NumMetrics {
		return "unknown"
	}
	return metricNames[m]
}

// Scale returns how many counts of the wire's fixed-point value make one
// unit of m: the resolution is 1/Scale. Signed reports an int16 field.
func (m Metric) Scale() (scale float64, signed bool) {
	switch {
	case m <= AccRMSZ:
		return 2000, false // 0.5 mg, 0..32.767 g
	case m <= AccPeakZ:
		return 1000, false // 1 mg, 0..65.534 g
	case m <= VelRMSZ:
		return 50, false // 0.02 mm/s, 0..1310.68 mm/s
	case m <= CrestZ:
		return 500, false // 0.002, 0..131.068
	case m <= KurtosisZ:
		return 50, false // 0.02, 0..1310.68
	case m == TempC:
		return 128, true // 1/128 °C, -255.99..255.99 °C
	}
	return 1000, false // battery: 1 mV, 0..65.534 V
}

// Sentinels for "not measured".
const (
	NotMeasuredU16 = 0xFFFF
	NotMeasuredI16 = -0x8000
)

// Quantize returns the fixed-point count that carries v for metric m:
// round half away from zero to the nearest step, saturate at the largest
// representable value (0xFFFE, or ±32767 for signed), negative values of
// unsigned metrics become 0, NaN becomes the "not measured" sentinel.
func (m Metric) Quantize(v float32) uint16 {
	scale, signed := m.Scale()
	if signed {
		if v != v {
			return 0x8000
		}
		q := math.Round(float64(v) * scale)
		q = max(-32767, min(32767, q))
		return uint16(int16(q))
	}
	if v != v {
		return NotMeasuredU16
	}
	q := math.Round(float64(v) * scale)
	q = max(0, min(0xFFFE, q))
	return uint16(q)
}

// Dequantize is the inverse of Quantize: the value a count stands for,
// NaN for the sentinel.
func (m Metric) Dequantize(q uint16) float32 {
	scale, signed := m.Scale()
	if signed {
		if q == 0x8000 {
			return float32(math.NaN())
		}
		return float32(float64(int16(q)) / scale)
	}
	if q == NotMeasuredU16 {
		return float32(math.NaN())
	}
	return float32(float64(q) / scale)
}

// Summary flags.
const (
	// SummaryISOBand: the velocity band covers all of ISO 10816-3's
	// 10–1000 Hz, so the velocity is comparable with its zone limits.
	SummaryISOBand = 1 << 0
	// SummaryClipped: at least one sample hit the accelerometer's range.
	SummaryClipped = 1 << 1
)

// Summary is a feature summary: the node's condition indicators over one
// measurement window.
type Summary struct {
	// Values holds one value per Metric; NaN means "not measured".
	Values [NumMetrics]float32
	// SampleRate is the accelerometer's sample rate, Hz.
	SampleRate uint16
	// Samples is the window length per axis.
	Samples uint16
	// VelBandLo and VelBandHi bound the velocity RMS band, Hz.
	VelBandLo, VelBandHi uint16
	// RangeG is the accelerometer's full scale, g (2, 4, 8 or 16).
	RangeG uint8
	// Flags holds SummaryISOBand and SummaryClipped.
	Flags uint8
}

// SummaryPayloadLen is the payload length of a summary packet; the
// packet is SummaryPacketLen bytes.
const (
	SummaryPayloadLen = 2*NumMetrics + 10
	SummaryPacketLen  = HeaderLen + SummaryPayloadLen + CRCLen
)

// Reset sets every value to "not measured" and clears the other fields.
func (s *Summary) Reset() {
	*s = Summary{}
	for i := range s.Values {
		s.Values[i] = float32(math.NaN())
	}
}

// AppendSummary appends a summary packet with header h (its Type is
// ignored) to dst.
func AppendSummary(dst []byte, h *Header, s *Summary) []byte {
	start := len(dst)
	dst = beginPacket(dst, h, TypeSummary, SummaryPayloadLen)
	for i, v := range s.Values {
		dst = binary.LittleEndian.AppendUint16(dst, Metric(i).Quantize(v))
	}
	dst = binary.LittleEndian.AppendUint16(dst, s.SampleRate)
	dst = binary.LittleEndian.AppendUint16(dst, s.Samples)
	dst = binary.LittleEndian.AppendUint16(dst, s.VelBandLo)
	dst = binary.LittleEndian.AppendUint16(dst, s.VelBandHi)
	dst = append(dst, s.RangeG, s.Flags)
	return endPacket(dst, start)
}

// DecodeSummary fills s from the payload of a TypeSummary packet.
// Errors: ErrLength.
func DecodeSummary(p []byte, s *Summary) error {
	if len(p) != SummaryPayloadLen {
		return ErrLength
	}
	for i := range s.Values {
		s.Values[i] = Metric(i).Dequantize(binary.LittleEndian.Uint16(p[2*i:]))
	}
	o := 2 * NumMetrics
	s.SampleRate = binary.LittleEndian.Uint16(p[o:])
	s.Samples = binary.LittleEndian.Uint16(p[o+2:])
	s.VelBandLo = binary.LittleEndian.Uint16(p[o+4:])
	s.VelBandHi = binary.LittleEndian.Uint16(p[o+6:])
	s.RangeG, s.Flags = p[o+8], p[o+9]
	return nil
}
