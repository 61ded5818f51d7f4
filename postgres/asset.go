package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

const assetCols = "id, org_id, name, type, rpm, iso_group, foundation, bearing, created_at"

func scanAsset(row pgx.Row) (*vibemon.Asset, error) {
	var a vibemon.Asset
	var found string
	if err := row.Scan(&a.ID, &a.OrgID, &a.Name, &a.Type, &a.RPM, &a.ISOGroup, &found, &a.Bearing, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.Foundation = vibemon.Foundation(found)
	a.CreatedAt = a.CreatedAt.UTC()
	return &a, nil
}

// CreateAsset inserts a and sets its ID and CreatedAt; EINVALID when the org
// does not exist.
func (s *Store) CreateAsset(ctx context.Context, a *vibemon.Asset) error {
	if err := a.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create asset", func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, a.OrgID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO assets (org_id, name, type, rpm, iso_group, foundation, bearing, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			a.OrgID, a.Name, a.Type, a.RPM, a.ISOGroup, string(a.Foundation), a.Bearing, now).Scan(&a.ID)
		a.CreatedAt = now
		return err
	})
}

// GetAsset returns ENOTFOUND when id is not an asset of orgID.
func (s *Store) GetAsset(ctx context.Context, orgID, id int64) (*vibemon.Asset, error) {
	a, err := scanAsset(s.pool.QueryRow(ctx, "SELECT "+assetCols+" FROM assets WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get asset", notFound("Asset"))
	}
	return a, mapErr("get asset", err)
}

// ListAssets returns the org's assets ordered by ID.
func (s *Store) ListAssets(ctx context.Context, orgID int64) ([]*vibemon.Asset, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+assetCols+" FROM assets WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list assets", err)
	}
	out, err := collect(rows, scanAsset)
	return out, mapErr("list assets", err)
}

// UpdateAsset saves every field a user sets; ENOTFOUND as GetAsset.
func (s *Store) UpdateAsset(ctx context.Context, a *vibemon.Asset) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, "update asset", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE assets SET name = $1, type = $2, rpm = $3, iso_group = $4, foundation = $5, bearing = $6
			WHERE org_id = $7 AND id = $8 RETURNING created_at`,
			a.Name, a.Type, a.RPM, a.ISOGroup, string(a.Foundation), a.Bearing, a.OrgID, a.ID).Scan(&a.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Asset")
		}
		a.CreatedAt = a.CreatedAt.UTC()
		return err
	})
}

// DeleteAsset removes the asset and detaches its devices (ON DELETE SET
// NULL); ENOTFOUND as GetAsset.
func (s *Store) DeleteAsset(ctx context.Context, orgID, id int64) error {
	return s.tx(ctx, "delete asset", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM assets WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Asset")
		}
		return nil
	})
}

const deviceCols = "id, org_id, coalesce(asset_id, 0), serial, name, firmware_version, last_seen_at, battery_v, created_at"

func scanDevice(row pgx.Row) (*vibemon.Device, error) {
	var d vibemon.Device
	if err := row.Scan(&d.ID, &d.OrgID, &d.AssetID, &d.Serial, &d.Name, &d.FirmwareVersion, &d.LastSeenAt, &d.BatteryV, &d.CreatedAt); err != nil {
		return nil, err
	}
	d.LastSeenAt = utcPtr(d.LastSeenAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return &d, nil
}

// assetOfOrg returns EINVALID when assetID (non-zero) is not an asset of orgID.
func assetOfOrg(ctx context.Context, tx pgx.Tx, orgID, assetID int64) error {
	if assetID == 0 {
		return nil
	}
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM assets WHERE org_id = $1 AND id = $2)", orgID, assetID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return vibemon.Errorf(vibemon.EINVALID, "asset_id %d is not an asset of this organization.", assetID)
	}
	return nil
}

// deviceOfOrg returns EINVALID when deviceID (non-zero) is not a device of orgID.
func deviceOfOrg(ctx context.Context, tx pgx.Tx, orgID, deviceID int64) error {
	if deviceID == 0 {
		return nil
	}
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, deviceID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return vibemon.Errorf(vibemon.EINVALID, "device_id %d is not a device of this organization.", deviceID)
	}
	return nil
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// RegisterDevice inserts d, or, when the org already has a device with
// d.Serial, fills d with the existing one and returns created=false.
// EINVALID when d.AssetID is not an asset of the org.
func (s *Store) RegisterDevice(ctx context.Context, d *vibemon.Device) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	created := false
	now := s.nowUTC()
	in := *d
	err := s.tx(ctx, "register device", func(tx pgx.Tx) error {
		created = false
		got, err := scanDevice(tx.QueryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = $1 AND serial = $2", in.OrgID, in.Serial))
		if err == nil {
			*d = *got
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := orgExists(ctx, tx, in.OrgID); err != nil {
			return err
		}
		if err := assetOfOrg(ctx, tx, in.OrgID, in.AssetID); err != nil {
			return err
		}
		// Two registrations of one serial at once: the loser finds the
		// winner's device.
		got, err = scanDevice(tx.QueryRow(ctx, `INSERT INTO devices (org_id, asset_id, serial, name, firmware_version, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, serial) DO NOTHING RETURNING `+deviceCols,
			in.OrgID, nullID(in.AssetID), in.Serial, in.Name, in.FirmwareVersion, now))
		if errors.Is(err, pgx.ErrNoRows) {
			got, err = scanDevice(tx.QueryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = $1 AND serial = $2", in.OrgID, in.Serial))
			if err != nil {
				return err
			}
			*d = *got
			return nil
		} else if err != nil {
			return err
		}
		*d = *got
		created = true
		return nil
	})
	return created, err
}

// GetDevice returns ENOTFOUND when id is not a device of orgID.
func (s *Store) GetDevice(ctx context.Context, orgID, id int64) (*vibemon.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get device", notFound("Device"))
	}
	return d, mapErr("get device", err)
}

// ListDevices returns the org's devices ordered by ID.
func (s *Store) ListDevices(ctx context.Context, orgID int64) ([]*vibemon.Device, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+deviceCols+" FROM devices WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list devices", err)
	}
	out, err := collect(rows, scanDevice)
	return out, mapErr("list devices", err)
}

// UpdateDevice saves name, asset and firmware version and fills d with the
// stored device; ENOTFOUND as GetDevice, EINVALID when the asset is not the
// org's.
func (s *Store) UpdateDevice(ctx context.Context, d *vibemon.Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	in := *d
	return s.tx(ctx, "update device", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", in.OrgID, in.ID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Device")
		}
		if err := assetOfOrg(ctx, tx, in.OrgID, in.AssetID); err != nil {
			return err
		}
		got, err := scanDevice(tx.QueryRow(ctx, `UPDATE devices SET name = $1, asset_id = $2, firmware_version = $3
			WHERE org_id = $4 AND id = $5 RETURNING `+deviceCols, in.Name, nullID(in.AssetID), in.FirmwareVersion, in.OrgID, in.ID))
		if err != nil {
			return err
		}
		*d = *got
		return nil
	})
}

// DeleteDevice removes the device with its readings, rollups, alerts,
// waveforms and models; ENOTFOUND as GetDevice. The device row goes first:
// an ingest of the device in flight either finishes first (it holds a
// key-share lock on the device, or on its fast path the row lock of its
// update), so its readings are deleted too, or finds the row gone at its
// update and stores nothing (ingestFast).
func (s *Store) DeleteDevice(ctx context.Context, orgID, id int64) error {
	defer s.forgetDevice(id)
	return s.tx(ctx, "delete device", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM devices WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Device")
		}
		// Alerts, waveforms and models go by ON DELETE CASCADE; readings
		// and rollups have no foreign key (it would cost every ingest).
		for _, q := range []string{
			"DELETE FROM readings WHERE device_id = $1",
			"DELETE FROM reading_seen WHERE device_id = $1",
			"DELETE FROM rollup_1m WHERE device_id = $1",
			"DELETE FROM rollup_1h WHERE device_id = $1",
			"DELETE FROM rollup_1d WHERE device_id = $1",
			// Deltas a running merge holds are its: it waits for this
			// transaction on the device row and then drops them.
			// Waiting for them here instead would deadlock with it.
			"DELETE FROM rollup_delta WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_delta WHERE device_id = $1 FOR UPDATE SKIP LOCKED))",
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		if s.caggs.Load() {
			// The device's materialized stats, which no refresh would
			// reach where its org's retention deleted readings (caggs.go).
			for i := range caggLevels {
				table, err := materialization(ctx, tx, i, orgID)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE device_id = $1", id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
