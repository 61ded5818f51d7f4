package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

const apiKeyCols = "id, org_id, name, role, prefix, hash, created_by, created_at, last_used_at, revoked_at"

func scanAPIKey(row pgx.Row) (*vibemon.APIKey, error) {
	var k vibemon.APIKey
	var role string
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &role, &k.Prefix, &k.Hash, &k.CreatedBy, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.Role = vibemon.Role(role)
	k.CreatedAt = utc(k.CreatedAt)
	k.LastUsedAt = utcPtr(k.LastUsedAt)
	k.RevokedAt = utcPtr(k.RevokedAt)
	return &k, nil
}

// CreateAPIKey inserts k and sets its ID and CreatedAt.
func (s *Store) CreateAPIKey(ctx context.Context, k *vibemon.APIKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create api key", func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, k.OrgID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO api_keys (org_id, name, role, prefix, hash, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, k.OrgID, k.Name, string(k.Role), k.Prefix, k.Hash, k.CreatedBy, now).Scan(&k.ID)
		if err != nil {
			return err
		}
		k.CreatedAt = now
		k.LastUsedAt, k.RevokedAt = nil, nil
		return nil
	})
}

// ListAPIKeys returns the org's keys, revoked ones included, ordered by ID.
func (s *Store) ListAPIKeys(ctx context.Context, orgID int64) ([]*vibemon.APIKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list api keys", err)
	}
	out, err := collect(rows, scanAPIKey)
	return out, mapErr("list api keys", err)
}

// APIKeyByHash returns the unrevoked key with the hash in any org;
// EUNAUTHORIZED otherwise.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*vibemon.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = $1 AND revoked_at IS NULL", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("api key by hash", vibemon.Errorf(vibemon.EUNAUTHORIZED, "The API key is unknown or revoked."))
	}
	return k, mapErr("api key by hash", err)
}

// RevokeAPIKey marks the key revoked; ENOTFOUND when id is not a key of orgID.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id int64) error {
	now := s.nowUTC()
	return s.tx(ctx, "revoke api key", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE org_id = $2 AND id = $3", now, orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("API key")
		}
		return nil
	})
}

// TouchAPIKey records that the key was used at at.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, "UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2", utc(at), id)
	return mapErr("touch api key", err)
}

// Completeness reports the device's readings with from <= ts < to, judged
// from their sequence numbers.
func (s *Store) Completeness(ctx context.Context, orgID, deviceID int64, from, to time.Time) (*vibemon.Completeness, error) {
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, vibemon.Errorf(vibemon.EINVALID, "from must be before to.")
	}
	c := &vibemon.Completeness{DeviceID: deviceID, From: from.UTC(), To: to.UTC()}
	var ex *vibemon.GapExplainer
	var prev, later *int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, deviceID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Device")
		}
		err := tx.QueryRow(ctx, `SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0)
			FROM readings WHERE device_id = $1 AND ts >= $2 AND ts < $3`, deviceID, from, to).Scan(&c.Received, &c.FirstSeq, &c.LastSeq)
		if err != nil {
			return err
		}
		// The device's readings just outside the window, by seq (the
		// primary key): the run before FirstSeq is this window's to explain.
		if c.Received > 0 {
			if err := tx.QueryRow(ctx, "SELECT max(seq) FROM readings WHERE device_id = $1 AND seq < $2", deviceID, c.FirstSeq).Scan(&prev); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT min(seq) FROM readings WHERE device_id = $1 AND seq > $2", deviceID, c.LastSeq).Scan(&later); err != nil {
				return err
			}
		}
		lo, hi := vibemon.GapRange(c, prevOr(prev), prev != nil, later != nil)
		reported, err := reportedGaps(ctx, tx, deviceID, lo, hi)
		if err != nil {
			return err
		}
		ex = vibemon.NewGapExplainer(c, reported)
		ex.Lead(prevOr(prev), prev != nil)
		rows, err := tx.Query(ctx, `SELECT seq + 1, next - 1 FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next
			FROM readings WHERE device_id = $1 AND ts >= $2 AND ts < $3) h WHERE next > seq + 1 ORDER BY seq`, deviceID, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var from, to int64
			if err := rows.Scan(&from, &to); err != nil {
				return err
			}
			ex.Hole(from, to)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, mapErr("completeness", err)
	}
	ex.Trail(later != nil)
	ex.Done()
	return c, nil
}

func prevOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
