package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/vibemon/vibemon"
)

const apiKeyCols = "id, org_id, name, role, prefix, hash, created_by, created_at, last_used_at, revoked_at"

func scanAPIKey(row interface{ Scan(...any) error }) (*vibemon.APIKey, error) {
	var k vibemon.APIKey
	var role string
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &role, &k.Prefix, &k.Hash, &k.CreatedBy, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.Role = vibemon.Role(role)
	k.CreatedAt = msTime(created)
	k.LastUsedAt = msPtr(used)
	k.RevokedAt = msPtr(revoked)
	return &k, nil
}

// CreateAPIKey inserts k and sets its ID and CreatedAt.
func (s *Store) CreateAPIKey(ctx context.Context, k *vibemon.APIKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create api key", func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, k.OrgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (org_id, name, role, prefix, hash, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, k.OrgID, k.Name, string(k.Role), k.Prefix, k.Hash, k.CreatedBy, now)
		if err != nil {
			return err
		}
		k.ID, _ = res.LastInsertId()
		k.CreatedAt = msTime(now)
		k.LastUsedAt, k.RevokedAt = nil, nil
		return nil
	})
}

// ListAPIKeys returns the org's keys, revoked ones included, ordered by ID.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*vibemon.APIKey, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list api keys", err)
	}
	defer rows.Close()
	keys := []*vibemon.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr("list api keys", err)
		}
		keys = append(keys, k)
	}
	return keys, mapErr("list api keys", rows.Err())
}

// APIKeyByHash returns the unrevoked key with the hash in any org;
// EUNAUTHORIZED otherwise.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*vibemon.APIKey, error) {
	k, err := scanAPIKey(s.rdb.QueryRowContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = ? AND revoked_at IS NULL", hash))
	if err == sql.ErrNoRows {
		return nil, mapErr("api key by hash", vibemon.Errorf(vibemon.EUNAUTHORIZED, "The API key is unknown or revoked."))
	} else if err != nil {
		return nil, mapErr("api key by hash", err)
	}
	return k, nil
}

// RevokeAPIKey marks the key revoked; ENOTFOUND when id is not a key of orgID.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id int64) error {
	now := s.nowMS()
	return s.writeTx(ctx, "revoke api key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE org_id = ? AND id = ?", now, orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("API key")
		}
		return nil
	})
}

// TouchAPIKey records that the key was used at at.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	return s.writeTx(ctx, "touch api key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?", at.UnixMilli(), id)
		return err
	})
}

// Completeness reports the device's readings with from <= ts < to, judged
// from their sequence numbers.
func (s *Store) Completeness(ctx context.Context, orgID, deviceID int64, from, to time.Time) (*vibemon.Completeness, error) {
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, vibemon.Errorf(vibemon.EINVALID, "from must be before to.")
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", orgID, deviceID).Scan(&n); err != nil {
		return nil, mapErr("completeness", err)
	}
	if n == 0 {
		return nil, mapErr("completeness", notFound("Device"))
	}
	c := &vibemon.Completeness{DeviceID: deviceID, From: from.UTC(), To: to.UTC()}
	f, t := from.UnixMilli(), to.UnixMilli()
	// Scan only the seqs the window's minutes hold, not the device's
	// whole history (readings are keyed by seq, not time).
	seqLo, seqHi, err := seqSpan(ctx, tx, deviceID, f, t)
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0)
		FROM readings WHERE device_id = ? AND seq BETWEEN ? AND ? AND ts >= ? AND ts < ?`, deviceID, seqLo, seqHi, f, t).Scan(&c.Received, &c.FirstSeq, &c.LastSeq)
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	// The device's readings just outside the window, by seq (the
	// primary key): the run before FirstSeq is this window's to explain.
	var prev, later sql.NullInt64
	if c.Received > 0 {
		if err := tx.QueryRowContext(ctx, "SELECT max(seq) FROM readings WHERE device_id = ? AND seq < ?", deviceID, c.FirstSeq).Scan(&prev); err != nil {
			return nil, mapErr("completeness", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT min(seq) FROM readings WHERE device_id = ? AND seq > ?", deviceID, c.LastSeq).Scan(&later); err != nil {
			return nil, mapErr("completeness", err)
		}
	}
	lo, hi := vibemon.GapRange(c, prev.Int64, prev.Valid, later.Valid)
	reported, err := reportedGaps(ctx, tx, deviceID, lo, hi)
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	ex := vibemon.NewGapExplainer(c, reported)
	ex.Lead(prev.Int64, prev.Valid)
	rows, err := tx.QueryContext(ctx, `SELECT seq + 1, next - 1 FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next
			FROM readings WHERE device_id = ? AND seq BETWEEN ? AND ? AND ts >= ? AND ts < ?) WHERE next > seq + 1 ORDER BY seq`, deviceID, seqLo, seqHi, f, t)
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	defer rows.Close()
	for rows.Next() {
		var from, to int64
		if err := rows.Scan(&from, &to); err != nil {
			return nil, mapErr("completeness", err)
		}
		ex.Hole(from, to)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("completeness", err)
	}
	ex.Trail(later.Valid)
	ex.Done()
	return c, nil
}
