package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

// Service analyses bursts and sums up asset health from a Store.
type Service struct {
	Store vibemon.Store
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// MaxDisplayPoints is the most points a spectrum has in a Document.
const MaxDisplayPoints = 2048

// Document is the stored analysis of a burst: the body of
// GET /devices/{id}/waveforms/{wid} without the burst's metadata, which the
// API merges in.
type Document struct {
	RPM           float64     `json:"rpm"`
	RPMSource     string      `json:"rpm_source"` // "asset" or "estimated"
	RPMConfidence float64     `json:"rpm_confidence"`
	Bearing       *BearingDoc `json:"bearing"`
	VelRMS        float64     `json:"vel_rms_mm_s"` // highest axis
	ISOGroup      int         `json:"iso_group"`
	Foundation    string      `json:"foundation"`
	Zone          string      `json:"zone"`
	AxesData      []AxisDoc   `json:"axes_data"`
	Markers       []Marker    `json:"markers"`
	Diagnosis     []Finding   `json:"diagnosis"`
	// ShaftRulesFrom is the overall velocity (mm/s RMS) from which the
	// shaft rules (imbalance, misalignment, looseness) judged this burst:
	// the zone A/B boundary, or the device's alarm level once its baseline
	// is known (dsp.Result.ShaftRulesFrom). 0 in documents of older
	// versions.
	ShaftRulesFrom float64   `json:"shaft_rules_from_mm_s"`
	AnalyzedAt     time.Time `json:"analyzed_at"`
}

// BearingDoc is the bearing the analysis assumed and its defect frequencies
// at the analysed shaft speed.
type BearingDoc struct {
	Designation string  `json:"designation"`
	Estimated   bool    `json:"estimated_geometry"`
	BPFO        float64 `json:"bpfo_hz"`
	BPFI        float64 `json:"bpfi_hz"`
	BSF         float64 `json:"bsf_hz"`
	FTF         float64 `json:"ftf_hz"`
}

// AxisDoc is one axis of a Document.
type AxisDoc struct {
	Axis     string      `json:"axis"`
	AccRMS   float64     `json:"acc_rms_g"`
	AccPeak  float64     `json:"acc_peak_g"`
	Crest    float64     `json:"crest"`
	Kurtosis float64     `json:"kurtosis"`
	VelRMS   float64     `json:"vel_rms_mm_s"`
	VelBand  [2]float64  `json:"vel_band_hz"`
	Spectrum SpectrumDoc `json:"spectrum"`
	Envelope SpectrumDoc `json:"envelope"`
	Peaks    []PeakDoc   `json:"peaks"`
}

// SpectrumDoc is a spectrum reduced for display: point k is the largest
// amplitude of the original bins in [k·DF, (k+1)·DF). For the envelope,
// Band is the demodulated band and the amplitudes are of the squared
// envelope (g²).
type SpectrumDoc struct {
	Band []float64 `json:"band_hz,omitempty"`
	DF   float64   `json:"df_hz"`
	Amp  []float64 `json:"amplitude_g"`
}

// PeakDoc is a spectral line.
type PeakDoc struct {
	Hz    float64 `json:"hz"`
	Amp   float64 `json:"amplitude_g"`
	DB    float64 `json:"db"`
	Order float64 `json:"order"`
}

// Marker is a frequency worth drawing on a spectrum.
type Marker struct {
	Label string  `json:"label"`
	Hz    float64 `json:"hz"`
}

// Finding is one diagnosis of a burst.
type Finding struct {
	Fault      string         `json:"fault"`
	Confidence float64        `json:"confidence"`
	Detected   bool           `json:"detected"`
	Axis       string         `json:"axis"`
	Summary    string         `json:"summary"`
	Evidence   []dsp.Evidence `json:"evidence"`
}

// Outcome is what AnalyzeWaveform did: the burst, its device and the
// document it stored (nil when the analysis failed for a reason in the
// burst itself, recorded as status failed).
type Outcome struct {
	Waveform *vibemon.Waveform
	Device   *vibemon.Device
	Doc      *Document
	// Failure is the message stored with status failed.
	Failure string
}

var axisNames = []string{"x", "y", "z"}

// AnalyzeWaveform analyses a stored burst with what its device's asset says
// (shaft speed, bearing, ISO group and foundation) and stores the Document
// with status done, or status failed with a message when the burst cannot
// be analysed. It is idempotent. It returns ENOTFOUND when the burst or its
// device is gone, and store errors (worth a retry) as they are.
func (s *Service) AnalyzeWaveform(ctx context.Context, orgID, waveformID int64) (*Outcome, error) {
	w, err := s.Store.GetWaveform(ctx, orgID, waveformID)
	if err != nil {
		return nil, fmt.Errorf("analyze waveform: %w", err)
	}
	dev, err := s.Store.GetDevice(ctx, orgID, w.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("analyze waveform: %w", err)
	}
	var asset *vibemon.Asset
	if dev.AssetID != 0 {
		if asset, err = s.Store.GetAsset(ctx, orgID, dev.AssetID); err != nil && vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
			return nil, fmt.Errorf("analyze waveform: %w", err)
		}
	}
	out := &Outcome{Waveform: w, Device: dev}
	// The shaft rules wait for the device's alarm level once its normal is
	// known (dsp.Options.Baseline).
	baseline, err := s.deviceBaseline(ctx, orgID, dev.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("analyze waveform: %w", err)
	}
	doc, err := s.analyze(w, asset, baseline)
	status, body := vibemon.AnalysisDone, []byte(nil)
	if err != nil {
		status, out.Failure = vibemon.AnalysisFailed, failureMessage(err)
		body, _ = json.Marshal(map[string]string{"error": out.Failure})
		s.log().Warn("waveform analysis failed", "org", orgID, "waveform", waveformID, "err", err)
	} else {
		out.Doc = doc
		if body, err = json.Marshal(doc); err != nil {
			return nil, fmt.Errorf("analyze waveform: encode: %w", err)
		}
	}
	if err := s.Store.SetWaveformAnalysis(ctx, orgID, waveformID, status, body); err != nil {
		return nil, fmt.Errorf("analyze waveform: %w", err)
	}
	w.AnalysisStatus, w.Analysis = status, body
	return out, nil
}

func failureMessage(err error) string {
	if errors.Is(err, dsp.ErrTooShort) {
		return "The burst is too short to analyse (at least 256 samples per axis)."
	}
	return "The burst could not be analysed: " + err.Error()
}

// Options returns the dsp options a burst of axes axes on asset (nil when
// the device is not attached) is analysed with.
func Options(asset *vibemon.Asset, axes int) (dsp.Options, *dsp.Bearing) {
	var o dsp.Options
	var bearing *dsp.Bearing
	if asset != nil {
		o.RPM = asset.RPM
		o.ISOGroup = asset.ISOGroup
		o.Flexible = asset.Foundation == vibemon.FoundationFlexible
		if b, ok := dsp.LookupBearing(asset.Bearing); ok && asset.Bearing != "" {
			o.Bearing = b
			bearing = &b
		}
	}
	if axes == 3 {
		// Nodes are mounted with z along the shaft (docs/protocol.md: x, y
		// radial, z axial), which the misalignment rule needs.
		o.AxialAxis = 3
	}
	return o, bearing
}

// analyze analyses burst w of a device on asset (nil: none) whose normal
// velocity is baseline (NaN: not known yet).
func (s *Service) analyze(w *vibemon.Waveform, asset *vibemon.Asset, baseline float64) (*Document, error) {
	if w.Axes < 1 || w.Axes > 3 || len(w.Data) != w.Axes*w.Samples {
		return nil, fmt.Errorf("burst shape: %d values for %d axes of %d samples", len(w.Data), w.Axes, w.Samples)
	}
	signals := make([][]float64, w.Axes)
	for a := range signals {
		x := make([]float64, w.Samples)
		for i := range x {
			x[i] = float64(w.Data[i*w.Axes+a]) * w.Scale
		}
		signals[a] = x
	}
	o, bearing := Options(asset, w.Axes)
	if baseline > 0 { // NaN: not known yet
		o.Baseline = baseline
	}
	if o.RPM > 0 && o.RPM/60 >= 0.45*w.SampleRateHz {
		o.RPM = 0 // a shaft above the usable band is a data-entry error; estimate instead
	}
	res, err := dsp.Analyze(signals, w.SampleRateHz, o)
	if err != nil {
		return nil, err
	}
	doc := &Document{
		RPM: fin(res.RPM), RPMSource: "asset", RPMConfidence: fin(res.RPMConfidence),
		VelRMS: fin(res.VelRMS), ISOGroup: 2, Foundation: string(vibemon.FoundationRigid), Zone: string(res.Zone),
		ShaftRulesFrom: fin(res.ShaftRulesFrom), AnalyzedAt: s.now().UTC(),
	}
	if res.RPMEstimated {
		doc.RPMSource = "estimated"
	}
	if asset != nil {
		doc.ISOGroup, doc.Foundation = asset.ISOGroup, string(asset.Foundation)
	}
	shaft := res.RPM / 60
	if bearing != nil {
		doc.Bearing = &BearingDoc{Designation: asset.Bearing, Estimated: bearing.Estimated,
			BPFO: fin(res.FaultHz.BPFO), BPFI: fin(res.FaultHz.BPFI), BSF: fin(res.FaultHz.BSF), FTF: fin(res.FaultHz.FTF)}
	}
	doc.Markers = markers(shaft, doc.Bearing, w.SampleRateHz/2)
	for a, ax := range res.Axes {
		ad := AxisDoc{
			Axis: axisNames[a], AccRMS: fin(ax.Features.AccRMS), AccPeak: fin(ax.Features.AccPeak), Crest: fin(ax.Features.Crest),
			Kurtosis: fin(ax.Features.Kurtosis), VelRMS: fin(ax.Features.VelRMS),
			VelBand:  [2]float64{fin(ax.Features.VelBand[0]), fin(ax.Features.VelBand[1])},
			Spectrum: reduce(ax.Spectrum.Amp, ax.Spectrum.DF),
			Envelope: reduce(ax.Envelope.Amp, ax.Envelope.DF),
			Peaks:    []PeakDoc{},
		}
		ad.Envelope.Band = []float64{fin(ax.Envelope.Band.Lo), fin(ax.Envelope.Band.Hi)}
		for _, p := range ax.Peaks {
			ad.Peaks = append(ad.Peaks, PeakDoc{Hz: fin(p.Freq), Amp: fin(p.Amp), DB: fin(p.DB), Order: fin(p.Order)})
		}
		doc.AxesData = append(doc.AxesData, ad)
	}
	doc.Diagnosis = []Finding{}
	for _, f := range res.Findings {
		fd := Finding{Fault: f.Fault, Confidence: fin(f.Confidence), Detected: f.Detected, Summary: findingSummary(f), Evidence: []dsp.Evidence{}}
		if f.Axis >= 0 && f.Axis < len(axisNames) {
			fd.Axis = axisNames[f.Axis]
		}
		for _, e := range f.Evidence {
			e.Expected, e.Freq, e.Order, e.DB, e.Amp = fin(e.Expected), fin(e.Freq), fin(e.Order), fin(e.DB), fin(e.Amp)
			fd.Evidence = append(fd.Evidence, e)
		}
		doc.Diagnosis = append(doc.Diagnosis, fd)
	}
	return doc, nil
}

// findingSummary returns the finding's one-line summary through its JSON
// form, which carries it whether dsp keeps it as a field or computes it.
func findingSummary(f dsp.Finding) string {
	b, err := json.Marshal(f)
	if err != nil {
		return ""
	}
	var v struct {
		Summary string `json:"summary"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Summary
}

// markers lists 1x-3x and, with a bearing, each defect frequency with its
// second and third harmonics, up to nyquist.
func markers(shaft float64, b *BearingDoc, nyquist float64) []Marker {
	out := []Marker{}
	add := func(label string, hz float64) {
		if hz > 0 && hz < nyquist && !math.IsInf(hz, 0) {
			out = append(out, Marker{Label: label, Hz: hz})
		}
	}
	for k := 1; k <= 3; k++ {
		add(fmt.Sprintf("%dx", k), float64(k)*shaft)
	}
	if b != nil {
		for _, d := range []struct {
			name string
			hz   float64
		}{{"BPFO", b.BPFO}, {"BPFI", b.BPFI}, {"BSF", b.BSF}, {"FTF", b.FTF}} {
			add(d.name, d.hz)
			add("2x"+d.name, 2*d.hz)
			add("3x"+d.name, 3*d.hz)
		}
	}
	return out
}

// reduce keeps at most MaxDisplayPoints points of amp (bin spacing df),
// each the largest of the bins it stands for, so a narrow line is never
// averaged away.
func reduce(amp []float64, df float64) SpectrumDoc {
	k := (len(amp) + MaxDisplayPoints - 1) / MaxDisplayPoints
	if k < 1 {
		k = 1
	}
	out := make([]float64, 0, (len(amp)+k-1)/k)
	for i := 0; i < len(amp); i += k {
		m := 0.0
		for _, v := range amp[i:min(i+k, len(amp))] {
			if v > m {
				m = v
			}
		}
		out = append(out, fin(m))
	}
	return SpectrumDoc{DF: fin(df * float64(k)), Amp: out}
}

// fin replaces NaN and infinities, which JSON cannot carry, with 0.
func fin(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Quantize converts signals (one slice per axis, g, of equal length) to
// the interleaved int16 layout of a vibemon.Waveform, with the scale (g per
// LSB) that puts the largest magnitude at 32000 counts.
func Quantize(signals [][]float64) (data []int16, scale float64) {
	peak := 0.0
	for _, x := range signals {
		for _, v := range x {
			peak = math.Max(peak, math.Abs(v))
		}
	}
	scale = peak / 32000
	if scale <= 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		scale = 1.0 / 32000
	}
	scale = math.Min(scale, 1)
	n := len(signals[0])
	data = make([]int16, len(signals)*n)
	for a, x := range signals {
		for i, v := range x {
			data[i*len(signals)+a] = int16(math.Round(math.Max(-32768, math.Min(32767, v/scale))))
		}
	}
	return data, scale
}
