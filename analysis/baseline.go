package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/anomaly"
)

// ModelKind is the kind of the anomaly model in the ModelStore.
const ModelKind = "iforest"

// Baseline settings.
const (
	// BaselineWindow is how much of a device's history, from its first
	// reading, is its baseline: the machine as installed or repaired,
	// before anything has had time to wear.
	BaselineWindow = 7 * 24 * time.Hour
	// MinBaselineRows is the fewest 1-minute rows a model is trained on.
	MinBaselineRows = 240
	// ModelMaxAge is how old a model trained on less than the whole
	// baseline window may get before it is trained again.
	ModelMaxAge = 24 * time.Hour
	// AnomalousScore is the score from which the health status is
	// "anomalous": well above the 0.5 of an ordinary point.
	AnomalousScore = 0.6
	// AnomalousDeviation is the robust z-score (distance from the baseline
	// median in units of 1.4826 MAD, at least 5 % of the median) from which
	// a feature is anomalous even when the forest, blind beyond its
	// training range, scores it below AnomalousScore.
	AnomalousDeviation = 6.0
)

// FeatureMetrics are the candidate features of the anomaly model, in
// order: vibration level (velocity and acceleration RMS), impulsiveness
// (kurtosis, crest factor) and temperature. Peaks are left out because
// crest factor already carries them, battery and RSSI because they say
// nothing about the machine.
var FeatureMetrics = []vibemon.Metric{
	vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ,
	vibemon.AccRMSX, vibemon.AccRMSY, vibemon.AccRMSZ,
	vibemon.KurtosisX, vibemon.KurtosisY, vibemon.KurtosisZ,
	vibemon.CrestX, vibemon.CrestY, vibemon.CrestZ,
	vibemon.TempC,
}

// modelDoc is the stored model: the features it was fitted on and the
// forest's own encoding.
type modelDoc struct {
	Version int      `json:"version"`
	Metrics []string `json:"metrics"`
	Forest  []byte   `json:"forest"`
	// Median and Scale per feature (1.4826 MAD, at least 5 % of the
	// median) back the forest where it is blind: an Isolation Forest
	// splits only inside the training range, so every point beyond it
	// scores like the most extreme baseline point, however far out.
	Median []float64 `json:"median"`
	Scale  []float64 `json:"scale"`
	// Through is the end of the baseline window, so a model that has seen
	// the whole window is not trained again.
	Through time.Time `json:"through"`
}

var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// TrainBaseline fits the device's Isolation Forest on the 1-minute averages
// of its first BaselineWindow of readings and saves it, unless the stored
// model is recent (ModelMaxAge) or already covers the whole window. It
// reports whether it trained; too little data (fewer than MinBaselineRows
// complete rows) is not an error.
func (s *Service) TrainBaseline(ctx context.Context, orgID, deviceID int64) (bool, error) {
	now := s.now()
	if old, err := s.Store.GetModel(ctx, orgID, deviceID, ModelKind); err == nil {
		var md modelDoc
		if json.Unmarshal(old.Data, &md) == nil && (now.Sub(old.TrainedAt) < ModelMaxAge || (!md.Through.IsZero() && !md.Through.After(old.TrainedAt))) {
			return false, nil
		}
	} else if vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	pts, err := s.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{
		DeviceID: deviceID, From: epoch, To: now, Bucket: vibemon.BucketMinute, Metrics: FeatureMetrics,
		Limit: int(BaselineWindow / time.Minute),
	})
	if err != nil {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	if len(pts) == 0 {
		return false, nil
	}
	through := pts[0].TS.Add(BaselineWindow)
	for len(pts) > 0 && !pts[len(pts)-1].TS.Before(through) {
		pts = pts[:len(pts)-1]
	}
	cols := usableColumns(pts)
	if len(cols) == 0 {
		return false, nil
	}
	var data []float64
	rows := 0
	for _, p := range pts {
		if row, ok := rowOf(p, cols); ok {
			data = append(data, row...)
			rows++
		}
	}
	if rows < MinBaselineRows {
		return false, nil
	}
	forest, err := anomaly.FitFlat(data, len(cols), anomaly.Config{Seed: uint64(deviceID)})
	if err != nil {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	enc, err := forest.MarshalBinary()
	if err != nil {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	md := modelDoc{Version: 1, Forest: enc}
	md.Median, md.Scale = robustStats(data, len(cols))
	if through.Before(now) {
		md.Through = through
	}
	for _, c := range cols {
		md.Metrics = append(md.Metrics, FeatureMetrics[c].String())
	}
	body, err := json.Marshal(md)
	if err != nil {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	m := &vibemon.Model{OrgID: orgID, DeviceID: deviceID, Kind: ModelKind, Data: body, Rows: rows, TrainedAt: now}
	if err := s.Store.SaveModel(ctx, m); err != nil {
		return false, fmt.Errorf("train baseline: %w", err)
	}
	s.log().Info("trained anomaly model", "org", orgID, "device", deviceID, "rows", rows, "features", len(cols))
	return true, nil
}

// robustStats returns each column's median and robust scale.
func robustStats(data []float64, nf int) (med, scale []float64) {
	rows := len(data) / nf
	col := make([]float64, rows)
	for c := range nf {
		for r := range rows {
			col[r] = data[r*nf+c]
		}
		m := median(col)
		for r := range rows {
			col[r] = math.Abs(data[r*nf+c] - m)
		}
		mad := median(col)
		med = append(med, m)
		scale = append(scale, max(1.4826*mad, 0.05*math.Abs(m), 1e-6))
	}
	return med, scale
}

// deviation returns the largest robust z-score of row's features.
func (md *modelDoc) deviation(row []float64) float64 {
	d := 0.0
	for i, v := range row {
		if i < len(md.Median) && i < len(md.Scale) && md.Scale[i] > 0 {
			d = max(d, math.Abs(v-md.Median[i])/md.Scale[i])
		}
	}
	return d
}

// usableColumns returns the indexes (into FeatureMetrics and each point's
// Avg) of the features measured in at least 90 % of the points: a node
// without a temperature probe still gets a model, without temperature.
func usableColumns(pts []vibemon.Point) []int {
	var cols []int
	for c := range FeatureMetrics {
		n := 0
		for _, p := range pts {
			if !math.IsNaN(p.Avg[c]) {
				n++
			}
		}
		if n > 0 && n*10 >= len(pts)*9 {
			cols = append(cols, c)
		}
	}
	return cols
}

// rowOf returns the point's values of cols, false when one is missing.
func rowOf(p vibemon.Point, cols []int) ([]float64, bool) {
	row := make([]float64, len(cols))
	for i, c := range cols {
		v := p.Avg[c]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
		row[i] = v
	}
	return row, true
}

// loadModel returns the device's model and its metrics, nil when it has
// none.
func (s *Service) loadModel(ctx context.Context, orgID, deviceID int64) (*anomaly.Forest, []vibemon.Metric, *vibemon.Model, *modelDoc, error) {
	m, err := s.Store.GetModel(ctx, orgID, deviceID, ModelKind)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return nil, nil, nil, nil, nil
	} else if err != nil {
		return nil, nil, nil, nil, err
	}
	var md modelDoc
	if err := json.Unmarshal(m.Data, &md); err != nil || md.Version != 1 {
		s.log().Warn("unreadable anomaly model; it will be trained again", "device", deviceID, "err", err)
		return nil, nil, nil, nil, nil
	}
	var f anomaly.Forest
	if err := f.UnmarshalBinary(md.Forest); err != nil {
		s.log().Warn("unreadable anomaly model; it will be trained again", "device", deviceID, "err", err)
		return nil, nil, nil, nil, nil
	}
	var ms []vibemon.Metric
	for _, name := range md.Metrics {
		mt, ok := vibemon.ParseMetric(name)
		if !ok {
			return nil, nil, nil, nil, nil
		}
		ms = append(ms, mt)
	}
	if len(ms) != f.NumFeatures() {
		return nil, nil, nil, nil, nil
	}
	return &f, ms, m, &md, nil
}
