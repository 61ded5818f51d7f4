package vibemon

import (
	"context"
	"encoding/binary"
	"time"
)

// Waveform is a raw burst of acceleration from a node: Samples per axis,
// interleaved int16 with Scale g per LSB, as the node's ADC produced it.
type Waveform struct {
	ID           int64
	OrgID        int64
	DeviceID     int64
	TS           time.Time
	SampleRateHz float64
	Axes         int     // 1..3
	Samples      int     // per axis
	Scale        float64 // g per LSB
	Data         []int16 // len Axes*Samples, interleaved x,y,z; nil in listings
	// AnalysisStatus is "pending", "done" or "failed"; Analysis holds the
	// analysis as JSON once done, or the failure message.
	AnalysisStatus string
	Analysis       []byte
	CreatedAt      time.Time
}

// Analysis statuses of a waveform.
const (
	AnalysisPending = "pending"
	AnalysisDone    = "done"
	AnalysisFailed  = "failed"
)

// MaxWaveformSamples is the most samples per axis a burst may carry.
const MaxWaveformSamples = 65536

// Validate checks a burst before it is stored.
func (w *Waveform) Validate(now time.Time) error {
	switch {
	case w.Axes < 1 || w.Axes > 3:
		return Errorf(EINVALID, "axes must be 1, 2 or 3.")
	case w.Samples < 256 || w.Samples > MaxWaveformSamples:
		return Errorf(EINVALID, "a burst needs 256 to %d samples per axis, not %d.", MaxWaveformSamples, w.Samples)
	case len(w.Data) != w.Axes*w.Samples:
		return Errorf(EINVALID, "data holds %d samples; axes x samples is %d.", len(w.Data), w.Axes*w.Samples)
	case !(w.SampleRateHz >= 100 && w.SampleRateHz <= 200000):
		return Errorf(EINVALID, "sample_rate_hz must be between 100 and 200000.")
	case !(w.Scale > 0 && w.Scale <= 1):
		return Errorf(EINVALID, "scale_g must be above 0 and at most 1 g per LSB.")
	case w.TS.Before(minReadingTime) || w.TS.After(now.Add(time.Hour)):
		return Errorf(EINVALID, "ts must be after 2000 and at most an hour ahead of the server's clock.")
	}
	return nil
}

// WaveformStore keeps bursts and their analyses; scoped to an org.
type WaveformStore interface {
	// CreateWaveform stores w with AnalysisStatus pending and sets its ID.
	// ENOTFOUND when the device is not the org's.
	CreateWaveform(ctx context.Context, w *Waveform) error
	// GetWaveform returns the burst with its data; ENOTFOUND when id is not
	// a waveform of the org.
	GetWaveform(ctx context.Context, orgID, id int64) (*Waveform, error)
	// ListWaveforms returns a device's bursts in [from, to) newest first,
	// without Data or Analysis.
	ListWaveforms(ctx context.Context, orgID, deviceID int64, from, to time.Time, limit int) ([]*Waveform, error)
	// SetWaveformAnalysis records the outcome of analysing a burst.
	SetWaveformAnalysis(ctx context.Context, orgID, id int64, status string, analysis []byte) error
}

// Model is a trained model of one device's normal behaviour, such as an
// anomaly detector fitted to its baseline readings.
type Model struct {
	OrgID     int64
	DeviceID  int64
	Kind      string // e.g. "iforest"
	Data      []byte // the model's own versioned encoding
	Rows      int    // readings it was trained on
	TrainedAt time.Time
}

// ModelStore keeps one model per (device, kind).
type ModelStore interface {
	// SaveModel inserts or replaces the device's model of m.Kind.
	SaveModel(ctx context.Context, m *Model) error
	// GetModel returns ENOTFOUND when the device has no model of kind.
	GetModel(ctx context.Context, orgID, deviceID int64, kind string) (*Model, error)
}

// EncodeSamples packs samples as little-endian int16: the layout of a burst
// in the API's base64 "data", in both stores and on the wire, so a burst
// moves between them unchanged.
func EncodeSamples(data []int16) []byte {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// DecodeSamples unpacks little-endian int16 samples; a trailing odd byte
// is ignored (callers check the length against the axes first).
func DecodeSamples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}
