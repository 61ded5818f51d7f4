package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// CreateOrg inserts o and sets its ID and CreatedAt.
func (s *Store) CreateOrg(ctx context.Context, o *vibemon.Org) error {
	if err := o.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create org", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "INSERT INTO orgs (name, retention_days, waveform_retention_days, created_at) VALUES ($1, $2, $3, $4) RETURNING id", o.Name, o.RetentionDays, o.WaveformRetentionDays, now).Scan(&o.ID); err != nil {
			return err
		}
		o.CreatedAt = now
		return s.orgAggregatesTx(ctx, tx, o)
	})
}

// GetOrg returns ENOTFOUND when id does not exist.
func (s *Store) GetOrg(ctx context.Context, id int64) (*vibemon.Org, error) {
	var o vibemon.Org
	err := s.pool.QueryRow(ctx, "SELECT id, name, retention_days, pruned_before, waveform_retention_days, created_at FROM orgs WHERE id = $1", id).Scan(&o.ID, &o.Name, &o.RetentionDays, &o.PrunedBefore, &o.WaveformRetentionDays, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get org", notFound("Organization"))
	} else if err != nil {
		return nil, mapErr("get org", err)
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return &o, nil
}

// UpdateOrg saves the name and retentions; ENOTFOUND when the org does not
// exist.
func (s *Store) UpdateOrg(ctx context.Context, o *vibemon.Org) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, "update org", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "UPDATE orgs SET name = $1, retention_days = $2, waveform_retention_days = $3 WHERE id = $4 RETURNING pruned_before, created_at", o.Name, o.RetentionDays, o.WaveformRetentionDays, o.ID).Scan(&o.PrunedBefore, &o.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Organization")
		} else if err != nil {
			return err
		}
		o.CreatedAt = o.CreatedAt.UTC()
		// The aggregates' refresh windows follow a new retention at once,
		// before the next prune deletes by it (caggs.go).
		return s.orgAggregatesTx(ctx, tx, o)
	})
}

// emailKey is the form in which e-mails are compared: trimmed, lower case.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userCols = "id, org_id, email, name, role, password_hash, created_at"

func scanUser(row pgx.Row) (*vibemon.User, error) {
	var u vibemon.User
	var role string
	if err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.CreatedAt); err != nil {
		return nil, err
	}
	u.Role = vibemon.Role(role)
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// CreateUser inserts u; ECONFLICT when the e-mail is taken in any org,
// compared without case; EINVALID when the org does not exist.
func (s *Store) CreateUser(ctx context.Context, u *vibemon.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create user", func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, u.OrgID); err != nil {
			return err
		}
		// ON CONFLICT, not a check first: two sign-ups with one e-mail at
		// once must not both pass.
		err := tx.QueryRow(ctx, `INSERT INTO users (org_id, email, email_key, name, role, password_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email_key) DO NOTHING RETURNING id`,
			u.OrgID, u.Email, emailKey(u.Email), u.Name, string(u.Role), u.PasswordHash, now).Scan(&u.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The e-mail %s is already taken.", u.Email)
		} else if err != nil {
			return err
		}
		u.CreatedAt = now
		return nil
	})
}

func orgExists(ctx context.Context, tx pgx.Tx, orgID int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM orgs WHERE id = $1)", orgID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return vibemon.Errorf(vibemon.EINVALID, "org_id %d is not an organization.", orgID)
	}
	return nil
}

// GetUser returns ENOTFOUND when id is not a user of orgID.
func (s *Store) GetUser(ctx context.Context, orgID, id int64) (*vibemon.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get user", notFound("User"))
	}
	return u, mapErr("get user", err)
}

// FindUserByEmail returns ENOTFOUND when no user has the e-mail (compared
// without case).
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*vibemon.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE email_key = $1", emailKey(email)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("find user", notFound("User"))
	}
	return u, mapErr("find user", err)
}

// ListUsers returns the org's users ordered by ID.
func (s *Store) ListUsers(ctx context.Context, orgID int64) ([]*vibemon.User, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+userCols+" FROM users WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	out, err := collect(rows, scanUser)
	return out, mapErr("list users", err)
}

// collect scans every row with scan; an empty result is an empty slice.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]*T, error) {
	defer rows.Close()
	out := []*T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateUser saves name, role and password hash; ENOTFOUND as GetUser.
func (s *Store) UpdateUser(ctx context.Context, u *vibemon.User) error {
	if !u.Role.Valid() {
		return vibemon.Errorf(vibemon.EINVALID, "role must be owner, admin, engineer or viewer.")
	}
	if len(u.Name) > 200 {
		return vibemon.Errorf(vibemon.EINVALID, "name is longer than 200 characters.")
	}
	return s.tx(ctx, "update user", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE users SET name = $1, role = $2, password_hash = $3
			WHERE org_id = $4 AND id = $5 RETURNING email, created_at`,
			u.Name, string(u.Role), u.PasswordHash, u.OrgID, u.ID).Scan(&u.Email, &u.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("User")
		}
		u.CreatedAt = u.CreatedAt.UTC()
		return err
	})
}

// DeleteUser removes the user and their sessions; ENOTFOUND as GetUser.
func (s *Store) DeleteUser(ctx context.Context, orgID, id int64) error {
	return s.tx(ctx, "delete user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("User")
		}
		return nil // sessions go with ON DELETE CASCADE
	})
}

// CountUsers returns the number of users in all orgs.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, mapErr("count users", err)
}

// CreateSession stores a new refresh token; a token of a family that was
// revoked is stored revoked. ECONFLICT when the token hash exists, EINVALID
// when the user is not the org's.
func (s *Store) CreateSession(ctx context.Context, sess *vibemon.Session) error {
	if sess.TokenHash == "" || sess.FamilyID == "" {
		return vibemon.Errorf(vibemon.EINVALID, "token hash and family are required.")
	}
	now := s.nowUTC()
	return s.tx(ctx, "create session", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)", sess.OrgID, sess.UserID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return vibemon.Errorf(vibemon.EINVALID, "user_id %d is not a user of org %d.", sess.UserID, sess.OrgID)
		}
		// A token added to a revoked family is born revoked: a refresh that
		// raced with reuse detection must not keep the family alive.
		_, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, family_id, user_id, org_id, expires_at, created_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, (SELECT min(revoked_at) FROM sessions WHERE family_id = $2))`,
			sess.TokenHash, sess.FamilyID, sess.UserID, sess.OrgID, sess.ExpiresAt, now)
		if err != nil {
			return err
		}
		sess.CreatedAt = now
		return nil
	})
}

// UseSession marks the token used and returns it. EUNAUTHORIZED when the
// token is unknown, revoked, expired at now, or already used; in the last
// case the whole family is revoked too, because a used token presented again
// means it was stolen. The row is locked while it is checked, so of two
// concurrent uses exactly one succeeds and the other counts as a reuse.
func (s *Store) UseSession(ctx context.Context, tokenHash string, now time.Time) (*vibemon.Session, error) {
	var out *vibemon.Session
	reuse := false
	err := s.tx(ctx, "use session", func(tx pgx.Tx) error {
		out, reuse = nil, false
		var sess vibemon.Session
		var used, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT token_hash, family_id, user_id, org_id, expires_at, created_at, used_at, revoked_at
			FROM sessions WHERE token_hash = $1 FOR UPDATE`, tokenHash).Scan(&sess.TokenHash, &sess.FamilyID, &sess.UserID, &sess.OrgID,
			&sess.ExpiresAt, &sess.CreatedAt, &used, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token is not valid.")
		} else if err != nil {
			return err
		}
		switch {
		case revoked != nil:
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token was revoked.")
		case used != nil:
			if _, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
				now, sess.FamilyID); err != nil {
				return err
			}
			reuse = true
			return nil // commit the revocation, then answer EUNAUTHORIZED
		case !now.Before(sess.ExpiresAt):
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token has expired.")
		}
		if _, err := tx.Exec(ctx, "UPDATE sessions SET used_at = $1 WHERE token_hash = $2", now, tokenHash); err != nil {
			return err
		}
		sess.ExpiresAt, sess.CreatedAt = sess.ExpiresAt.UTC(), sess.CreatedAt.UTC()
		out = &sess
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reuse {
		s.log.Warn("refresh token reused; family revoked")
		return nil, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token was already used; every session of its login is revoked.")
	}
	return out, nil
}

// RevokeFamily revokes every token of the family (logout).
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	now := s.nowUTC()
	return s.tx(ctx, "revoke family", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL", now, familyID)
		return err
	})
}

// OrgIDs returns every org's id in ascending order, for background work
// that visits every tenant (training models, sweeps).
func (s *Store) OrgIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM orgs ORDER BY id")
	if err != nil {
		return nil, mapErr("list org ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, mapErr("list org ids", err)
}
