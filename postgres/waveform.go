package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	now := s.nowUTC()
	ts := utc(w.TS)
	blob := vibemon.EncodeSamples(w.Data)
	return s.tx(ctx, "create waveform", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", w.OrgID, w.DeviceID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Device")
		}
		err := tx.QueryRow(ctx, `INSERT INTO waveforms (org_id, device_id, ts, sample_rate_hz, axes, samples, scale, data,
			analysis_status, analysis, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10) RETURNING id`,
			w.OrgID, w.DeviceID, ts, w.SampleRateHz, w.Axes, w.Samples, w.Scale, blob, vibemon.AnalysisPending, now).Scan(&w.ID)
		if err != nil {
			return err
		}
		w.AnalysisStatus, w.Analysis = vibemon.AnalysisPending, nil
		w.CreatedAt, w.TS = now, ts
		return nil
	})
}

const waveformCols = "id, org_id, device_id, ts, sample_rate_hz, axes, samples, scale, analysis_status, created_at"

func scanWaveform(row pgx.Row, extra ...any) (*vibemon.Waveform, error) {
	var w vibemon.Waveform
	dst := append([]any{&w.ID, &w.OrgID, &w.DeviceID, &w.TS, &w.SampleRateHz, &w.Axes, &w.Samples, &w.Scale, &w.AnalysisStatus, &w.CreatedAt}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	w.TS, w.CreatedAt = w.TS.UTC(), w.CreatedAt.UTC()
	return &w, nil
}

// GetWaveform returns the burst with its data and analysis; ENOTFOUND when
// id is not a waveform of the org.
func (s *Store) GetWaveform(ctx context.Context, orgID, id int64) (*vibemon.Waveform, error) {
	var data, analysis []byte
	w, err := scanWaveform(s.pool.QueryRow(ctx, "SELECT "+waveformCols+", data, analysis FROM waveforms WHERE org_id = $1 AND id = $2",
		orgID, id), &data, &analysis)
	if errors.Is(err, pgx.ErrNoRows) {
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
	var toArg any = "infinity"
	if !to.IsZero() {
		toArg = to
	}
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, deviceID).Scan(&ok); err != nil {
		return nil, mapErr("list waveforms", err)
	}
	if !ok {
		return nil, mapErr("list waveforms", notFound("Device"))
	}
	rows, err := s.pool.Query(ctx, "SELECT "+waveformCols+` FROM waveforms
		WHERE org_id = $1 AND device_id = $2 AND ts >= $3 AND ts < $4::timestamptz ORDER BY ts DESC, id DESC LIMIT $5`,
		orgID, deviceID, from, toArg, limit)
	if err != nil {
		return nil, mapErr("list waveforms", err)
	}
	out, err := collect(rows, func(r pgx.Row) (*vibemon.Waveform, error) { return scanWaveform(r) })
	return out, mapErr("list waveforms", err)
}

// SetWaveformAnalysis records the outcome of analysing a burst. EINVALID
// for an unknown status, ENOTFOUND when id is not a waveform of the org.
func (s *Store) SetWaveformAnalysis(ctx context.Context, orgID, id int64, status string, analysis []byte) error {
	switch status {
	case vibemon.AnalysisPending, vibemon.AnalysisDone, vibemon.AnalysisFailed:
	default:
		return fmt.Errorf("set waveform analysis: %w", vibemon.Errorf(vibemon.EINVALID, "analysis status %q is not pending, done or failed.", status))
	}
	return s.tx(ctx, "set waveform analysis", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE waveforms SET analysis_status = $1, analysis = $2 WHERE org_id = $3 AND id = $4",
			status, analysis, orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
	m.TrainedAt = utc(m.TrainedAt)
	data := m.Data
	if data == nil {
		data = []byte{}
	}
	return s.tx(ctx, "save model", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", m.OrgID, m.DeviceID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Device")
		}
		_, err := tx.Exec(ctx, `INSERT INTO models (org_id, device_id, kind, data, rows, trained_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (device_id, kind) DO UPDATE SET data = excluded.data, rows = excluded.rows, trained_at = excluded.trained_at`,
			m.OrgID, m.DeviceID, m.Kind, data, m.Rows, m.TrainedAt)
		return err
	})
}

// GetModel returns ENOTFOUND when the device is not the org's or has no
// model of kind.
func (s *Store) GetModel(ctx context.Context, orgID, deviceID int64, kind string) (*vibemon.Model, error) {
	m := vibemon.Model{OrgID: orgID, DeviceID: deviceID, Kind: kind}
	err := s.pool.QueryRow(ctx, "SELECT data, rows, trained_at FROM models WHERE org_id = $1 AND device_id = $2 AND kind = $3",
		orgID, deviceID, kind).Scan(&m.Data, &m.Rows, &m.TrainedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get model", notFound("Model"))
	} else if err != nil {
		return nil, mapErr("get model", err)
	}
	m.TrainedAt = m.TrainedAt.UTC()
	return &m, nil
}
