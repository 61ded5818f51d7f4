package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vibemon/vibemon"
)

var (
	_ vibemon.WaveformStore = (*Store)(nil)
	_ vibemon.ModelStore    = (*Store)(nil)
)

// CreateWaveform stores w with AnalysisStatus pending and sets its ID and
// CreatedAt. EINVALID when w is not valid (at the store's clock), ENOTFOUND
// when the device is not the org's.
func (s *Store) CreateWaveform(ctx context.Context, w *vibemon.Waveform) error {
	if err := w.Validate(s.now()); err != nil {
		return err
	}
	now := s.nowMS()
	blob := vibemon.EncodeSamples(w.Data)
	return s.writeTx(ctx, "create waveform", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", w.OrgID, w.DeviceID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Device")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO waveforms (org_id, device_id, ts, sample_rate_hz, axes, samples, scale, data,
			analysis_status, analysis, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
			w.OrgID, w.DeviceID, w.TS.UnixMilli(), w.SampleRateHz, w.Axes, w.Samples, w.Scale, blob, vibemon.AnalysisPending, now)
		if err != nil {
			return err
		}
		w.ID, _ = res.LastInsertId()
		w.AnalysisStatus, w.Analysis = vibemon.AnalysisPending, nil
		w.CreatedAt = msTime(now)
		w.TS = msTime(w.TS.UnixMilli())
		return nil
	})
}

const waveformCols = "id, org_id, device_id, ts, sample_rate_hz, axes, samples, scale, analysis_status, created_at"

func scanWaveform(row interface{ Scan(...any) error }, extra ...any) (*vibemon.Waveform, error) {
	var w vibemon.Waveform
	var ts, created int64
	dst := append([]any{&w.ID, &w.OrgID, &w.DeviceID, &ts, &w.SampleRateHz, &w.Axes, &w.Samples, &w.Scale, &w.AnalysisStatus, &created}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	w.TS, w.CreatedAt = msTime(ts), msTime(created)
	return &w, nil
}

// GetWaveform returns the burst with its data and analysis; ENOTFOUND when
// id is not a waveform of the org.
func (s *Store) GetWaveform(ctx context.Context, orgID, id int64) (*vibemon.Waveform, error) {
	var data, analysis []byte
	w, err := scanWaveform(s.rdb.QueryRowContext(ctx, "SELECT "+waveformCols+", data, analysis FROM waveforms WHERE org_id = ? AND id = ?",
		orgID, id), &data, &analysis)
	if err == sql.ErrNoRows {
		return nil, mapErr("get waveform", notFound("Waveform"))
	} else if err != nil {
		return nil, mapErr("get waveform", err)
	}
	w.Data, w.Analysis = vibemon.DecodeSamples(data), analysis
	return w, nil
}

// Limits of ListWaveforms.
const (
	defaultWaveformLimit = 100
	maxWaveformLimit     = 1000
)

// ListWaveforms returns a device's bursts in [from, to) newest first,
// without Data or Analysis. A zero to means no upper bound; limit defaults
// to 100 and is capped at 1000. ENOTFOUND when the device is not the org's.
func (s *Store) ListWaveforms(ctx context.Context, orgID, deviceID int64, from, to time.Time, limit int) ([]*vibemon.Waveform, error) {
	if limit <= 0 {
		limit = defaultWaveformLimit
	}
	limit = min(limit, maxWaveformLimit)
	toMS := int64(1<<63 - 1)
	if !to.IsZero() {
		toMS = to.UnixMilli()
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", orgID, deviceID).Scan(&n); err != nil {
		return nil, mapErr("list waveforms", err)
	}
	if n == 0 {
		return nil, mapErr("list waveforms", notFound("Device"))
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+waveformCols+` FROM waveforms
		WHERE org_id = ? AND device_id = ? AND ts >= ? AND ts < ? ORDER BY ts DESC, id DESC LIMIT ?`,
		orgID, deviceID, from.UnixMilli(), toMS, limit)
	if err != nil {
		return nil, mapErr("list waveforms", err)
	}
	defer rows.Close()
	out := []*vibemon.Waveform{}
	for rows.Next() {
		w, err := scanWaveform(rows)
		if err != nil {
			return nil, mapErr("list waveforms", err)
		}
		out = append(out, w)
	}
	return out, mapErr("list waveforms", rows.Err())
}

// SetWaveformAnalysis records the outcome of analysing a burst. EINVALID
// for an unknown status, ENOTFOUND when id is not a waveform of the org.
func (s *Store) SetWaveformAnalysis(ctx context.Context, orgID, id int64, status string, analysis []byte) error {
	switch status {
	case vibemon.AnalysisPending, vibemon.AnalysisDone, vibemon.AnalysisFailed:
	default:
		return fmt.Errorf("set waveform analysis: %w", vibemon.Errorf(vibemon.EINVALID, "analysis status %q is not pending, done or failed.", status))
	}
	return s.writeTx(ctx, "set waveform analysis", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE waveforms SET analysis_status = ?, analysis = ? WHERE org_id = ? AND id = ?",
			status, analysis, orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Waveform")
		}
		return nil
	})
}

// SaveModel inserts or replaces the device's model of m.Kind. EINVALID when
// the kind is empty, ENOTFOUND when the device is not the org's.
func (s *Store) SaveModel(ctx context.Context, m *vibemon.Model) error {
	if m.Kind == "" || len(m.Kind) > 64 {
		return fmt.Errorf("save model: %w", vibemon.Errorf(vibemon.EINVALID, "model kind must be 1 to 64 characters."))
	}
	if m.TrainedAt.IsZero() {
		m.TrainedAt = s.now()
	}
	return s.writeTx(ctx, "save model", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", m.OrgID, m.DeviceID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Device")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO models (org_id, device_id, kind, data, rows, trained_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (device_id, kind) DO UPDATE SET data = excluded.data, rows = excluded.rows, trained_at = excluded.trained_at`,
			m.OrgID, m.DeviceID, m.Kind, m.Data, m.Rows, m.TrainedAt.UnixMilli())
		return err
	})
}

// GetModel returns ENOTFOUND when the device is not the org's or has no
// model of kind.
func (s *Store) GetModel(ctx context.Context, orgID, deviceID int64, kind string) (*vibemon.Model, error) {
	m := vibemon.Model{OrgID: orgID, DeviceID: deviceID, Kind: kind}
	var trained int64
	err := s.rdb.QueryRowContext(ctx, "SELECT data, rows, trained_at FROM models WHERE org_id = ? AND device_id = ? AND kind = ?",
		orgID, deviceID, kind).Scan(&m.Data, &m.Rows, &trained)
	if err == sql.ErrNoRows {
		return nil, mapErr("get model", notFound("Model"))
	} else if err != nil {
		return nil, mapErr("get model", err)
	}
	m.TrainedAt = msTime(trained)
	return &m, nil
}

// OrgIDs returns every org's id in ascending order, for background work
// that visits every tenant (training models, sweeps).
func (s *Store) OrgIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id FROM orgs ORDER BY id")
	if err != nil {
		return nil, mapErr("list org ids", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr("list org ids", err)
		}
		ids = append(ids, id)
	}
	return ids, mapErr("list org ids", rows.Err())
}
