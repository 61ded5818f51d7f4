package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

type queryRower interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// deviceExists returns ENOTFOUND when deviceID is not a device of orgID.
func deviceExists(ctx context.Context, q queryRower, orgID, deviceID int64) error {
	var ok bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, deviceID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return notFound("Device")
	}
	return nil
}

// GetDeviceSettings returns the device's settings, all zero when none
// were set.
func (s *Store) GetDeviceSettings(ctx context.Context, orgID, deviceID int64) (*vibemon.DeviceSettings, error) {
	if err := deviceExists(ctx, s.pool, orgID, deviceID); err != nil {
		return nil, mapErr("get device settings", err)
	}
	out := &vibemon.DeviceSettings{DeviceID: deviceID}
	var fw *int64
	err := s.pool.QueryRow(ctx, `SELECT interval_s, range_g, sample_rate_hz, window_samples, target_firmware_id, burst_every_s, burst_frames, updated_at
		FROM device_settings WHERE device_id = $1`, deviceID).Scan(&out.IntervalS, &out.RangeG, &out.SampleRateHz, &out.Window, &fw, &out.BurstEveryS, &out.BurstFrames, &out.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil
	}
	if err != nil {
		return nil, mapErr("get device settings", err)
	}
	if fw != nil {
		out.TargetFirmwareID = *fw
	}
	out.UpdatedAt = out.UpdatedAt.UTC()
	return out, nil
}

// PutDeviceSettings replaces the device's settings.
func (s *Store) PutDeviceSettings(ctx context.Context, orgID int64, ds *vibemon.DeviceSettings) error {
	if err := ds.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "put device settings", func(tx pgx.Tx) error {
		if err := deviceExists(ctx, tx, orgID, ds.DeviceID); err != nil {
			return err
		}
		var fw *int64
		if ds.TargetFirmwareID != 0 {
			var ok bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM firmware_images WHERE org_id = $1 AND id = $2)", orgID, ds.TargetFirmwareID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return vibemon.Errorf(vibemon.EINVALID, "target_firmware_id %d is not a firmware image of this org; upload it first (POST /api/v1/firmware).", ds.TargetFirmwareID)
			}
			fw = &ds.TargetFirmwareID
		}
		_, err := tx.Exec(ctx, `INSERT INTO device_settings (device_id, interval_s, range_g, sample_rate_hz, window_samples, target_firmware_id,
			burst_every_s, burst_frames, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (device_id) DO UPDATE SET interval_s = excluded.interval_s, range_g = excluded.range_g,
			sample_rate_hz = excluded.sample_rate_hz, window_samples = excluded.window_samples,
			target_firmware_id = excluded.target_firmware_id, burst_every_s = excluded.burst_every_s,
			burst_frames = excluded.burst_frames, updated_at = excluded.updated_at`,
			ds.DeviceID, ds.IntervalS, ds.RangeG, ds.SampleRateHz, ds.Window, fw, ds.BurstEveryS, ds.BurstFrames, now)
		if err == nil {
			ds.UpdatedAt = now
		}
		return err
	})
}

// CreateFirmware stores an image.
func (s *Store) CreateFirmware(ctx context.Context, f *vibemon.FirmwareImage) error {
	if err := f.Prepare(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create firmware", func(tx pgx.Tx) error {
		f.CreatedAt = now
		return tx.QueryRow(ctx, `INSERT INTO firmware_images (org_id, version, hardware, size, sha256, signature, notes, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, f.OrgID, f.Version, f.Hardware, f.Size, f.SHA256, f.Signature, f.Notes, f.StoredData(), now).Scan(&f.ID)
	})
}

// firmwareCols are the columns scanFirmware reads; an image whose data
// column is empty is External (its bytes are in the BlobStore).
const firmwareCols = "id, org_id, version, hardware, size, sha256, signature, notes, created_at, octet_length(data) = 0"

func scanFirmware(sc pgx.Row, extra ...any) (*vibemon.FirmwareImage, error) {
	f := &vibemon.FirmwareImage{}
	if err := sc.Scan(append([]any{&f.ID, &f.OrgID, &f.Version, &f.Hardware, &f.Size, &f.SHA256, &f.Signature, &f.Notes, &f.CreatedAt, &f.External}, extra...)...); err != nil {
		return nil, err
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return f, nil
}

// ListFirmware returns the org's images without data, newest first.
func (s *Store) ListFirmware(ctx context.Context, orgID int64) ([]*vibemon.FirmwareImage, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+firmwareCols+" FROM firmware_images WHERE org_id = $1 ORDER BY id DESC", orgID)
	if err != nil {
		return nil, mapErr("list firmware", err)
	}
	defer rows.Close()
	out := []*vibemon.FirmwareImage{}
	for rows.Next() {
		f, err := scanFirmware(rows)
		if err != nil {
			return nil, mapErr("list firmware", err)
		}
		out = append(out, f)
	}
	return out, mapErr("list firmware", rows.Err())
}

// GetFirmware returns one image, with its data when withData.
func (s *Store) GetFirmware(ctx context.Context, orgID, id int64, withData bool) (*vibemon.FirmwareImage, error) {
	q := "SELECT " + firmwareCols + ", ''::bytea FROM firmware_images WHERE org_id = $1 AND id = $2"
	if withData {
		q = "SELECT " + firmwareCols + ", data FROM firmware_images WHERE org_id = $1 AND id = $2"
	}
	var data []byte
	f, err := scanFirmware(s.pool.QueryRow(ctx, q, orgID, id), &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Firmware image")
	}
	if err != nil {
		return nil, mapErr("get firmware", err)
	}
	if withData {
		f.Data = data
	}
	return f, nil
}

// PutOTAStatus records the device's latest OTA progress.
func (s *Store) PutOTAStatus(ctx context.Context, orgID int64, st *vibemon.OTAStatus) error {
	if err := st.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "put ota status", func(tx pgx.Tx) error {
		if err := deviceExists(ctx, tx, orgID, st.DeviceID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO device_ota_status (device_id, firmware_id, version, state, bytes_done, bytes_total, error, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (device_id) DO UPDATE SET firmware_id = excluded.firmware_id, version = excluded.version,
			state = excluded.state, bytes_done = excluded.bytes_done, bytes_total = excluded.bytes_total, error = excluded.error,
			updated_at = excluded.updated_at`,
			st.DeviceID, st.FirmwareID, st.Version, st.State, st.BytesDone, st.BytesTotal, st.Error, now)
		if err == nil {
			st.UpdatedAt = now
		}
		return err
	})
}

// GetOTAStatus returns the device's latest OTA progress.
func (s *Store) GetOTAStatus(ctx context.Context, orgID, deviceID int64) (*vibemon.OTAStatus, error) {
	if err := deviceExists(ctx, s.pool, orgID, deviceID); err != nil {
		return nil, mapErr("get ota status", err)
	}
	st := &vibemon.OTAStatus{DeviceID: deviceID}
	err := s.pool.QueryRow(ctx, `SELECT firmware_id, version, state, bytes_done, bytes_total, error, updated_at
		FROM device_ota_status WHERE device_id = $1`, deviceID).Scan(&st.FirmwareID, &st.Version, &st.State, &st.BytesDone, &st.BytesTotal, &st.Error, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vibemon.Errorf(vibemon.ENOTFOUND, "No OTA update was reported for this device.")
	}
	if err != nil {
		return nil, mapErr("get ota status", err)
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	return st, nil
}
