package sqlite

import (
	"context"
	"database/sql"

	"github.com/vibemon/vibemon"
)

const assetCols = "id, org_id, name, type, rpm, iso_group, foundation, bearing, created_at"

func scanAsset(row interface{ Scan(...any) error }) (*vibemon.Asset, error) {
	var a vibemon.Asset
	var created int64
	var found string
	if err := row.Scan(&a.ID, &a.OrgID, &a.Name, &a.Type, &a.RPM, &a.ISOGroup, &found, &a.Bearing, &created); err != nil {
		return nil, err
	}
	a.Foundation = vibemon.Foundation(found)
	a.CreatedAt = msTime(created)
	return &a, nil
}

// CreateAsset inserts a and sets its ID and CreatedAt.
func (s *Store) CreateAsset(ctx context.Context, a *vibemon.Asset) error {
	if err := a.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create asset", func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, a.OrgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO assets (org_id, name, type, rpm, iso_group, foundation, bearing, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.OrgID, a.Name, a.Type, a.RPM, a.ISOGroup, string(a.Foundation), a.Bearing, now)
		if err != nil {
			return err
		}
		a.ID, _ = res.LastInsertId()
		a.CreatedAt = msTime(now)
		return nil
	})
}

// GetAsset returns ENOTFOUND when id is not an asset of orgID.
func (s *Store) GetAsset(ctx context.Context, orgID, id int64) (*vibemon.Asset, error) {
	a, err := scanAsset(s.rdb.QueryRowContext(ctx, "SELECT "+assetCols+" FROM assets WHERE org_id = ? AND id = ?", orgID, id))
	if err == sql.ErrNoRows {
		return nil, mapErr("get asset", notFound("Asset"))
	}
	return a, mapErr("get asset", err)
}

// ListAssets returns the org's assets ordered by ID.
func (s *Store) ListAssets(ctx context.Context, orgID int64) ([]*vibemon.Asset, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+assetCols+" FROM assets WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list assets", err)
	}
	defer rows.Close()
	out := []*vibemon.Asset{}
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, mapErr("list assets", err)
		}
		out = append(out, a)
	}
	return out, mapErr("list assets", rows.Err())
}

// UpdateAsset saves every field a user sets; ENOTFOUND as GetAsset.
func (s *Store) UpdateAsset(ctx context.Context, a *vibemon.Asset) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return s.writeTx(ctx, "update asset", func(tx *sql.Tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `UPDATE assets SET name = ?, type = ?, rpm = ?, iso_group = ?, foundation = ?, bearing = ?
			WHERE org_id = ? AND id = ? RETURNING created_at`,
			a.Name, a.Type, a.RPM, a.ISOGroup, string(a.Foundation), a.Bearing, a.OrgID, a.ID).Scan(&created)
		if err == sql.ErrNoRows {
			return notFound("Asset")
		} else if err != nil {
			return err
		}
		a.CreatedAt = msTime(created)
		return nil
	})
}

// DeleteAsset removes the asset and detaches its devices; ENOTFOUND as
// GetAsset.
func (s *Store) DeleteAsset(ctx context.Context, orgID, id int64) error {
	return s.writeTx(ctx, "delete asset", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM assets WHERE org_id = ? AND id = ?", orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Asset")
		}
		// ON DELETE SET NULL does this too; explicit so it does not depend on
		// the foreign_keys pragma.
		_, err = tx.ExecContext(ctx, "UPDATE devices SET asset_id = NULL WHERE org_id = ? AND asset_id = ?", orgID, id)
		return err
	})
}

const deviceCols = "id, org_id, coalesce(asset_id, 0), serial, name, firmware_version, last_seen_at, battery_v, created_at"

func scanDevice(row interface{ Scan(...any) error }) (*vibemon.Device, error) {
	var d vibemon.Device
	var created int64
	var seen sql.NullInt64
	var batt sql.NullFloat64
	if err := row.Scan(&d.ID, &d.OrgID, &d.AssetID, &d.Serial, &d.Name, &d.FirmwareVersion, &seen, &batt, &created); err != nil {
		return nil, err
	}
	d.LastSeenAt = msPtr(seen)
	if batt.Valid {
		v := batt.Float64
		d.BatteryV = &v
	}
	d.CreatedAt = msTime(created)
	return &d, nil
}

// assetOfOrg returns EINVALID when assetID (non-zero) is not an asset of orgID.
func assetOfOrg(ctx context.Context, tx *sql.Tx, orgID, assetID int64) error {
	if assetID == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM assets WHERE org_id = ? AND id = ?", orgID, assetID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vibemon.Errorf(vibemon.EINVALID, "asset_id %d is not an asset of this organization.", assetID)
	}
	return nil
}

func deviceOfOrg(ctx context.Context, tx *sql.Tx, orgID, deviceID int64) error {
	if deviceID == 0 {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", orgID, deviceID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vibemon.Errorf(vibemon.EINVALID, "device_id %d is not a device of this organization.", deviceID)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// RegisterDevice inserts d, or, when the org already has a device with
// d.Serial, fills d with the existing one and returns created=false.
// EINVALID when d.AssetID is not an asset of the org.
func (s *Store) RegisterDevice(ctx context.Context, d *vibemon.Device) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	created := false
	now := s.nowMS()
	err := s.writeTx(ctx, "register device", func(tx *sql.Tx) error {
		got, err := scanDevice(tx.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = ? AND serial = ?", d.OrgID, d.Serial))
		if err == nil {
			*d = *got
			return nil
		} else if err != sql.ErrNoRows {
			return err
		}
		if err := orgExists(ctx, tx, d.OrgID); err != nil {
			return err
		}
		if err := assetOfOrg(ctx, tx, d.OrgID, d.AssetID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (org_id, asset_id, serial, name, firmware_version, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, d.OrgID, nullID(d.AssetID), d.Serial, d.Name, d.FirmwareVersion, now)
		if err != nil {
			return err
		}
		d.ID, _ = res.LastInsertId()
		d.CreatedAt = msTime(now)
		d.LastSeenAt, d.BatteryV = nil, nil
		created = true
		return nil
	})
	return created, err
}

// GetDevice returns ENOTFOUND when id is not a device of orgID.
func (s *Store) GetDevice(ctx context.Context, orgID, id int64) (*vibemon.Device, error) {
	d, err := scanDevice(s.rdb.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = ? AND id = ?", orgID, id))
	if err == sql.ErrNoRows {
		return nil, mapErr("get device", notFound("Device"))
	}
	return d, mapErr("get device", err)
}

// ListDevices returns the org's devices ordered by ID.
func (s *Store) ListDevices(ctx context.Context, orgID int64) ([]*vibemon.Device, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list devices", err)
	}
	defer rows.Close()
	out := []*vibemon.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, mapErr("list devices", err)
		}
		out = append(out, d)
	}
	return out, mapErr("list devices", rows.Err())
}

// UpdateDevice saves name, asset and firmware version and fills d with the
// stored device; ENOTFOUND as GetDevice, EINVALID when the asset is not the
// org's.
func (s *Store) UpdateDevice(ctx context.Context, d *vibemon.Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	return s.writeTx(ctx, "update device", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", d.OrgID, d.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Device")
		}
		if err := assetOfOrg(ctx, tx, d.OrgID, d.AssetID); err != nil {
			return err
		}
		got, err := scanDevice(tx.QueryRowContext(ctx, `UPDATE devices SET name = ?, asset_id = ?, firmware_version = ?
			WHERE org_id = ? AND id = ? RETURNING `+deviceCols, d.Name, nullID(d.AssetID), d.FirmwareVersion, d.OrgID, d.ID))
		if err != nil {
			return err
		}
		*d = *got
		return nil
	})
}

// DeleteDevice removes the device with its readings, rollups, alerts,
// waveforms and models;
// ENOTFOUND as GetDevice.
func (s *Store) DeleteDevice(ctx context.Context, orgID, id int64) error {
	return s.writeTx(ctx, "delete device", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE org_id = ? AND id = ?", orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Device")
		}
		for _, q := range []string{
			"DELETE FROM readings WHERE device_id = ?",
			"DELETE FROM rollup_1m WHERE device_id = ?",
			"DELETE FROM rollup_1h WHERE device_id = ?",
			"DELETE FROM rollup_1d WHERE device_id = ?",
			"DELETE FROM alerts WHERE device_id = ?",
			"DELETE FROM waveforms WHERE device_id = ?",
			"DELETE FROM models WHERE device_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}
