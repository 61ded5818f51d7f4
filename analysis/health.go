package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/anomaly"
	"github.com/vibemon/vibemon/dsp"
)

// Health is an asset's condition: the body of GET /assets/{id}/health.
type Health struct {
	AssetID    int64            `json:"asset_id"`
	ComputedAt time.Time        `json:"computed_at"`
	ISO        ISOHealth        `json:"iso"`
	Anomaly    AnomalyHealth    `json:"anomaly"`
	Diagnosis  *DiagnosisHealth `json:"diagnosis"`
	Trend      *TrendHealth     `json:"trend"`
	Devices    []int64          `json:"devices"`
}

// ISOHealth is the ISO 10816-3 evaluation of the latest hour.
type ISOHealth struct {
	Group      int        `json:"group"`
	Foundation string     `json:"foundation"`
	Zone       *string    `json:"zone"`         // nil without readings in the last hour
	VelRMS     *float64   `json:"vel_rms_mm_s"` // mean of the last hour, highest axis and device
	Boundaries [3]float64 `json:"boundaries_mm_s"`
	Alarm      float64    `json:"alarm_mm_s"`
	Trip       float64    `json:"trip_mm_s"`
	Baseline   *float64   `json:"baseline_mm_s"` // median of the first day's hourly values
}

// AnomalyHealth is the anomaly score of the latest readings against the
// device's own baseline model.
type AnomalyHealth struct {
	Score            *float64      `json:"score"`
	Status           string        `json:"status"` // normal, anomalous or learning
	BaselineReadings int           `json:"baseline_readings"`
	DeviceID         int64         `json:"device_id,omitempty"`
	Contributors     []Contributor `json:"contributors"`
}

// Contributor is a feature's share of an anomaly score.
type Contributor struct {
	Metric string  `json:"metric"`
	Share  float64 `json:"share"`
}

// DiagnosisHealth is the diagnosis of the asset's latest analysed burst.
type DiagnosisHealth struct {
	WaveformID int64     `json:"waveform_id"`
	DeviceID   int64     `json:"device_id"`
	TS         time.Time `json:"ts"`
	Findings   []Finding `json:"findings"`
	Summary    string    `json:"summary"`
	// VelRMS is the burst's overall velocity (mm/s RMS, highest axis) and
	// ShaftRulesFrom the level from which the shaft rules judged it
	// (Document.ShaftRulesFrom; 0: not recorded).
	VelRMS         float64 `json:"vel_rms_mm_s"`
	ShaftRulesFrom float64 `json:"shaft_rules_from_mm_s"`
}

// TrendHealth is the trend of the daily velocity level and when it would
// reach the alarm level.
type TrendHealth struct {
	Metric         string       `json:"metric"`
	Points         int          `json:"points"`
	SlopePerDay    *float64     `json:"slope_per_day"`
	Trend          string       `json:"trend"`
	PValue         *float64     `json:"p_value"`
	CrossesAlarmAt *time.Time   `json:"crosses_alarm_at"`
	Interval       []*time.Time `json:"interval"` // [earliest, latest]; latest nil when the slow bound never reaches it
}

// Trend settings.
const (
	TrendDays      = 90 // daily values the trend is fitted to
	MinTrendPoints = 7  // fewer daily values give trend "none"
	// ScoredMinutes is how many of the latest 1-minute averages are scored.
	ScoredMinutes = 10
)

var velMetrics = []vibemon.Metric{vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ}

// MaxAxis returns the highest non-NaN value of vs (a reading's or a
// bucket's values of the three axes), NaN when none: the direction ISO
// 10816-3 evaluates.
func MaxAxis(vs []float64) float64 {
	m := math.NaN()
	for _, v := range vs {
		if !math.IsNaN(v) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// AssetHealth sums up the asset's condition from its devices' readings,
// models and bursts. ENOTFOUND when the asset is not the org's.
func (s *Service) AssetHealth(ctx context.Context, orgID, assetID int64) (*Health, error) {
	asset, err := s.Store.GetAsset(ctx, orgID, assetID)
	if err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	all, err := s.Store.ListDevices(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	var devices []*vibemon.Device
	for _, d := range all {
		if d.AssetID == asset.ID {
			devices = append(devices, d)
		}
	}
	return s.Health(ctx, orgID, asset, devices)
}

// Health is AssetHealth of an asset and its devices the caller has read
// already (the condition report reads them once for every asset).
func (s *Service) Health(ctx context.Context, orgID int64, asset *vibemon.Asset, devices []*vibemon.Device) (*Health, error) {
	now := s.now().UTC()
	h := &Health{AssetID: asset.ID, ComputedAt: now, Devices: []int64{}}
	for _, d := range devices {
		h.Devices = append(h.Devices, d.ID)
	}
	limits, err := dsp.ISOLimits(asset.ISOGroup, asset.Foundation == vibemon.FoundationFlexible)
	if err != nil {
		return nil, fmt.Errorf("asset health: %w", vibemon.Errorf(vibemon.EINVALID, "The asset's ISO group %d is not 1 or 2.", asset.ISOGroup))
	}
	h.ISO = ISOHealth{Group: asset.ISOGroup, Foundation: string(asset.Foundation), Boundaries: [3]float64{limits.AB, limits.BC, limits.CD}}
	if err := s.isoHealth(ctx, orgID, devices, limits, now, &h.ISO); err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	if h.Anomaly, err = s.anomalyHealth(ctx, orgID, devices, now); err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	if h.Diagnosis, err = s.latestDiagnosis(ctx, orgID, devices); err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	if h.Trend, err = s.trend(ctx, orgID, devices, now, h.ISO.Alarm); err != nil {
		return nil, fmt.Errorf("asset health: %w", err)
	}
	return h, nil
}

func (s *Service) isoHealth(ctx context.Context, orgID int64, devices []*vibemon.Device, limits dsp.ZoneLimits, now time.Time, iso *ISOHealth) error {
	latest, baseline := math.NaN(), math.NaN()
	for _, d := range devices {
		// The latest hour: the count-weighted mean of the 1-minute averages
		// per axis, then the highest axis, as ISO 10816-3 evaluates the
		// highest of the measured directions.
		pts, err := s.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{DeviceID: d.ID, From: now.Add(-time.Hour), To: now.Add(time.Minute), Bucket: vibemon.BucketMinute, Metrics: velMetrics})
		if err != nil {
			return err
		}
		var sum [3]float64
		var n [3]float64
		for _, p := range pts {
			for a, v := range p.Avg {
				if !math.IsNaN(v) {
					sum[a] += v * float64(p.Count)
					n[a] += float64(p.Count)
				}
			}
		}
		var means []float64
		for a := range sum {
			if n[a] > 0 {
				means = append(means, sum[a]/n[a])
			}
		}
		if v := MaxAxis(means); !math.IsNaN(v) && (math.IsNaN(latest) || v > latest) {
			latest = v
		}
		m, err := s.deviceBaseline(ctx, orgID, d.ID, now)
		if err != nil {
			return err
		}
		if !math.IsNaN(m) && (math.IsNaN(baseline) || m > baseline) {
			baseline = m
		}
	}
	b := 0.0
	if !math.IsNaN(baseline) {
		iso.Baseline = &baseline
		b = baseline
	}
	iso.Alarm, iso.Trip = limits.AlarmTrip(b, 0)
	if !math.IsNaN(latest) {
		z := string(limits.Zone(latest))
		iso.VelRMS, iso.Zone = &latest, &z
	}
	return nil
}

// deviceBaseline returns the device's normal velocity (mm/s RMS, highest
// axis): the median of the hourly values of its first day of readings;
// NaN when it has none.
func (s *Service) deviceBaseline(ctx context.Context, orgID, deviceID int64, now time.Time) (float64, error) {
	hours, err := s.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{DeviceID: deviceID, From: epoch, To: now.Add(time.Hour), Bucket: vibemon.BucketHour, Metrics: velMetrics, Limit: 24})
	if err != nil {
		return math.NaN(), err
	}
	var vals []float64
	for _, p := range hours {
		if p.TS.Sub(hours[0].TS) >= 24*time.Hour {
			break
		}
		if v := MaxAxis(p.Avg); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return median(vals), nil
}

func (s *Service) anomalyHealth(ctx context.Context, orgID int64, devices []*vibemon.Device, now time.Time) (AnomalyHealth, error) {
	out := AnomalyHealth{Status: "learning", Contributors: []Contributor{}}
	best := math.Inf(-1)
	for _, d := range devices {
		forest, metrics, model, md, err := s.loadModel(ctx, orgID, d.ID)
		if err != nil {
			return out, err
		}
		if forest == nil {
			continue
		}
		pts, err := s.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{DeviceID: d.ID, From: now.Add(-time.Hour), To: now.Add(time.Minute), Bucket: vibemon.BucketMinute, Metrics: metrics})
		if err != nil {
			return out, err
		}
		if len(pts) > ScoredMinutes {
			pts = pts[len(pts)-ScoredMinutes:]
		}
		cols := make([]int, len(metrics))
		for i := range cols {
			cols[i] = i
		}
		var scores, devs []float64
		contrib := make([]float64, len(metrics))
		var tmp []float64
		for _, p := range pts {
			row, ok := rowOf(p, cols)
			if !ok {
				continue
			}
			scores = append(scores, forest.Score(row))
			devs = append(devs, md.deviation(row))
			tmp = forest.Contributions(tmp, row)
			for i, c := range tmp[:len(metrics)] {
				contrib[i] += c
			}
		}
		if len(scores) == 0 {
			if out.BaselineReadings == 0 {
				out.BaselineReadings = model.Rows
			}
			continue
		}
		// The median of the latest minutes: one odd minute is not a machine
		// in trouble.
		score, dev := median(scores), median(devs)
		anomalous := score >= AnomalousScore || dev >= AnomalousDeviation
		rank := score
		if anomalous {
			rank += 1 // an anomalous device outranks a normal one
		}
		if rank <= best {
			continue
		}
		best = rank
		out.Score, out.DeviceID, out.BaselineReadings = &score, d.ID, model.Rows
		out.Status = "normal"
		if anomalous {
			out.Status = "anomalous"
		}
		out.Contributors = []Contributor{}
		total := 0.0
		for _, c := range contrib {
			total += c
		}
		for i, c := range contrib {
			if total > 0 && c > 0 {
				out.Contributors = append(out.Contributors, Contributor{Metric: metrics[i].String(), Share: c / total})
			}
		}
		sort.SliceStable(out.Contributors, func(i, j int) bool { return out.Contributors[i].Share > out.Contributors[j].Share })
		if len(out.Contributors) > 5 {
			out.Contributors = out.Contributors[:5]
		}
	}
	return out, nil
}

func (s *Service) latestDiagnosis(ctx context.Context, orgID int64, devices []*vibemon.Device) (*DiagnosisHealth, error) {
	var best *vibemon.Waveform
	for _, d := range devices {
		ws, err := s.Store.ListWaveforms(ctx, orgID, d.ID, epoch, time.Time{}, 50)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if w.AnalysisStatus == vibemon.AnalysisDone {
				if best == nil || w.TS.After(best.TS) {
					best = w
				}
				break
			}
		}
	}
	if best == nil {
		return nil, nil
	}
	w, err := s.Store.GetWaveform(ctx, orgID, best.ID)
	if err != nil {
		return nil, err
	}
	var doc Document
	if err := json.Unmarshal(w.Analysis, &doc); err != nil {
		return nil, fmt.Errorf("read analysis of waveform %d: %w", w.ID, err)
	}
	dh := &DiagnosisHealth{WaveformID: w.ID, DeviceID: w.DeviceID, TS: w.TS, Findings: []Finding{}, VelRMS: doc.VelRMS, ShaftRulesFrom: doc.ShaftRulesFrom}
	for _, f := range doc.Diagnosis {
		if f.Detected || f.Fault == dsp.FaultNormal {
			dh.Findings = append(dh.Findings, f)
		}
	}
	dh.Summary = Summary(dh.Findings)
	return dh, nil
}

var faultWords = map[string]string{
	dsp.FaultNormal:       "no fault found",
	dsp.FaultImbalance:    "imbalance",
	dsp.FaultMisalignment: "misalignment",
	dsp.FaultLooseness:    "mechanical looseness",
	dsp.FaultOuterRace:    "an outer race bearing defect",
	dsp.FaultInnerRace:    "an inner race bearing defect",
	dsp.FaultBall:         "a rolling element (ball) defect",
	dsp.FaultCage:         "a cage defect",
}

// FaultWords returns a fault name in plain words, e.g. "an outer race
// bearing defect".
func FaultWords(fault string) string {
	if w, ok := faultWords[fault]; ok {
		return w
	}
	return fault
}

// Summary says in plain words what findings mean.
func Summary(fs []Finding) string {
	var faults []Finding
	for _, f := range fs {
		if f.Detected && f.Fault != dsp.FaultNormal {
			faults = append(faults, f)
		}
	}
	if len(faults) == 0 {
		return "No fault found in the latest burst."
	}
	msg := fmt.Sprintf("Likely %s (confidence %.0f %%)", FaultWords(faults[0].Fault), 100*faults[0].Confidence)
	for i, f := range faults[1:] {
		if i == 0 {
			msg += "; also "
		} else {
			msg += ", "
		}
		msg += FaultWords(f.Fault)
	}
	return msg + "."
}

func (s *Service) trend(ctx context.Context, orgID int64, devices []*vibemon.Device, now time.Time, alarm float64) (*TrendHealth, error) {
	byDay := map[time.Time]float64{}
	for _, d := range devices {
		pts, err := s.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{DeviceID: d.ID, From: now.Add(-TrendDays * 24 * time.Hour), To: now.Add(time.Hour), Bucket: vibemon.BucketDay, Metrics: velMetrics})
		if err != nil {
			return nil, err
		}
		for _, p := range pts {
			v := MaxAxis(p.Avg)
			if math.IsNaN(v) {
				continue
			}
			if old, ok := byDay[p.TS]; !ok || v > old {
				byDay[p.TS] = v
			}
		}
	}
	if len(byDay) == 0 {
		return nil, nil
	}
	days := make([]time.Time, 0, len(byDay))
	for t := range byDay {
		days = append(days, t)
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	if len(days) > TrendDays {
		days = days[len(days)-TrendDays:]
	}
	th := &TrendHealth{Metric: "vel_rms_mm_s", Points: len(days), Trend: anomaly.TrendNone, Interval: []*time.Time{}}
	if len(days) < MinTrendPoints {
		return th, nil
	}
	vals := make([]float64, len(days))
	for i, t := range days {
		vals[i] = byDay[t]
	}
	p, err := anomaly.Forecast(days, vals, alarm)
	if err != nil {
		// Bad input (for example every value equal) means no trend to show.
		s.log().Debug("forecast", "err", err)
		return th, nil
	}
	slope, pv := p.Slope*86400, p.P
	th.SlopePerDay, th.PValue, th.Trend = &slope, &pv, p.Trend
	// Forecast reports a direction only when it heads for the limit; a
	// level already past the alarm and still rising is rising all the same.
	if th.Trend == anomaly.TrendNone && pv < 0.05 && !math.IsNaN(slope) {
		if slope > 0 {
			th.Trend = anomaly.TrendRising
		} else if slope < 0 {
			th.Trend = anomaly.TrendFalling
		}
	}
	if p.Trend != anomaly.TrendNone && !p.CrossesAt.IsZero() && p.CrossesAt.After(now) {
		c, e := p.CrossesAt.UTC(), p.Earliest.UTC()
		th.CrossesAlarmAt = &c
		var l *time.Time
		if !p.Latest.IsZero() {
			lt := p.Latest.UTC()
			l = &lt
		}
		th.Interval = []*time.Time{&e, l}
	}
	return th, nil
}

// median returns the median of vs (NaN when empty); vs is reordered.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}
