package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// CreateOrg inserts o and sets its ID and CreatedAt.
func (s *Store) CreateOrg(ctx context.Context, o *vibemon.Org) error {
	if err := o.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create org", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO orgs (name, retention_days, waveform_retention_days, created_at) VALUES (?, ?, ?, ?)", o.Name, o.RetentionDays, o.WaveformRetentionDays, now)
		if err != nil {
			return err
		}
		o.ID, _ = res.LastInsertId()
		o.CreatedAt = msTime(now)
		return nil
	})
}

// GetOrg returns ENOTFOUND when id does not exist.
func (s *Store) GetOrg(ctx context.Context, id int64) (*vibemon.Org, error) {
	var o vibemon.Org
	var created, pruned int64
	err := s.rdb.QueryRowContext(ctx, "SELECT id, name, retention_days, pruned_before, waveform_retention_days, created_at FROM orgs WHERE id = ?", id).Scan(&o.ID, &o.Name, &o.RetentionDays, &pruned, &o.WaveformRetentionDays, &created)
	if err == sql.ErrNoRows {
		return nil, mapErr("get org", notFound("Organization"))
	} else if err != nil {
		return nil, mapErr("get org", err)
	}
	o.CreatedAt = msTime(created)
	o.PrunedBefore = prunedTime(pruned)
	return &o, nil
}

// prunedTime is orgs.pruned_before (unix ms, 0: never) as Org.PrunedBefore.
func prunedTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := msTime(ms)
	return &t
}

// UpdateOrg saves the name and retentions; ENOTFOUND when the org does not
// exist.
func (s *Store) UpdateOrg(ctx context.Context, o *vibemon.Org) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return s.writeTx(ctx, "update org", func(tx *sql.Tx) error {
		var created, pruned int64
		err := tx.QueryRowContext(ctx, "UPDATE orgs SET name = ?, retention_days = ?, waveform_retention_days = ? WHERE id = ? RETURNING created_at, pruned_before", o.Name, o.RetentionDays, o.WaveformRetentionDays, o.ID).Scan(&created, &pruned)
		if err == sql.ErrNoRows {
			return notFound("Organization")
		} else if err != nil {
			return err
		}
		o.CreatedAt = msTime(created)
		o.PrunedBefore = prunedTime(pruned)
		return nil
	})
}

// emailKey is the form in which e-mails are compared: trimmed, lower case.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userCols = "id, org_id, email, name, role, password_hash, created_at"

func scanUser(row interface{ Scan(...any) error }) (*vibemon.User, error) {
	var u vibemon.User
	var created int64
	var role string
	if err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &role, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	u.Role = vibemon.Role(role)
	u.CreatedAt = msTime(created)
	return &u, nil
}

// CreateUser inserts u; ECONFLICT when the e-mail is taken in any org,
// compared without case.
func (s *Store) CreateUser(ctx context.Context, u *vibemon.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create user", func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, u.OrgID); err != nil {
			return err
		}
		var taken int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE email_key = ?", emailKey(u.Email)).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return vibemon.Errorf(vibemon.ECONFLICT, "The e-mail %s is already taken.", u.Email)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO users (org_id, email, email_key, name, role, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, u.OrgID, u.Email, emailKey(u.Email), u.Name, string(u.Role), u.PasswordHash, now)
		if err != nil {
			return err
		}
		u.ID, _ = res.LastInsertId()
		u.CreatedAt = msTime(now)
		return nil
	})
}

func orgExists(ctx context.Context, tx *sql.Tx, orgID int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM orgs WHERE id = ?", orgID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vibemon.Errorf(vibemon.EINVALID, "org_id %d is not an organization.", orgID)
	}
	return nil
}

// GetUser returns ENOTFOUND when id is not a user of orgID.
func (s *Store) GetUser(ctx context.Context, orgID, id int64) (*vibemon.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE org_id = ? AND id = ?", orgID, id))
	if err == sql.ErrNoRows {
		return nil, mapErr("get user", notFound("User"))
	}
	return u, mapErr("get user", err)
}

// FindUserByEmail returns ENOTFOUND when no user has the e-mail (compared
// without case).
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*vibemon.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE email_key = ?", emailKey(email)))
	if err == sql.ErrNoRows {
		return nil, mapErr("find user", notFound("User"))
	}
	return u, mapErr("find user", err)
}

// ListUsers returns the org's users ordered by ID.
func (s *Store) ListUsers(ctx context.Context, orgID int64) ([]*vibemon.User, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+userCols+" FROM users WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	defer rows.Close()
	users := []*vibemon.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("list users", err)
		}
		users = append(users, u)
	}
	return users, mapErr("list users", rows.Err())
}

// UpdateUser saves name, role and password hash; ENOTFOUND as GetUser.
func (s *Store) UpdateUser(ctx context.Context, u *vibemon.User) error {
	if !u.Role.Valid() {
		return vibemon.Errorf(vibemon.EINVALID, "role must be owner, admin, engineer or viewer.")
	}
	if len(u.Name) > 200 {
		return vibemon.Errorf(vibemon.EINVALID, "name is longer than 200 characters.")
	}
	return s.writeTx(ctx, "update user", func(tx *sql.Tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, `UPDATE users SET name = ?, role = ?, password_hash = ?
			WHERE org_id = ? AND id = ? RETURNING email, created_at`,
			u.Name, string(u.Role), u.PasswordHash, u.OrgID, u.ID).Scan(&u.Email, &created)
		if err == sql.ErrNoRows {
			return notFound("User")
		} else if err != nil {
			return err
		}
		u.CreatedAt = msTime(created)
		return nil
	})
}

// DeleteUser removes the user and their sessions; ENOTFOUND as GetUser.
func (s *Store) DeleteUser(ctx context.Context, orgID, id int64) error {
	return s.writeTx(ctx, "delete user", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE org_id = ? AND user_id = ?", orgID, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE org_id = ? AND id = ?", orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("User")
		}
		return nil
	})
}

// CountUsers returns the number of users in all orgs.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, mapErr("count users", err)
}

// CreateSession stores a new refresh token; a token of a family that was
// revoked is stored revoked. ECONFLICT when the token hash exists, EINVALID
// when the user is not the org's.
func (s *Store) CreateSession(ctx context.Context, sess *vibemon.Session) error {
	if sess.TokenHash == "" || sess.FamilyID == "" {
		return vibemon.Errorf(vibemon.EINVALID, "token hash and family are required.")
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create session", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE org_id = ? AND id = ?", sess.OrgID, sess.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return vibemon.Errorf(vibemon.EINVALID, "user_id %d is not a user of org %d.", sess.UserID, sess.OrgID)
		}
		// A token added to a revoked family is born revoked: a refresh that
		// raced with reuse detection must not keep the family alive.
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, family_id, user_id, org_id, expires_at, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, (SELECT min(revoked_at) FROM sessions WHERE family_id = ? AND revoked_at IS NOT NULL))`,
			sess.TokenHash, sess.FamilyID, sess.UserID, sess.OrgID, sess.ExpiresAt.UnixMilli(), now, sess.FamilyID)
		if err != nil {
			return err
		}
		sess.CreatedAt = msTime(now)
		return nil
	})
}

// UseSession marks the token used and returns it. EUNAUTHORIZED when the
// token is unknown, revoked, expired at now, or already used; in the last
// case the whole family is revoked too, because a used token presented again
// means it was stolen.
func (s *Store) UseSession(ctx context.Context, tokenHash string, now time.Time) (*vibemon.Session, error) {
	var out *vibemon.Session
	reuse := false
	err := s.writeTx(ctx, "use session", func(tx *sql.Tx) error {
		var sess vibemon.Session
		var expires, created int64
		var used, revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT token_hash, family_id, user_id, org_id, expires_at, created_at, used_at, revoked_at
			FROM sessions WHERE token_hash = ?`, tokenHash).Scan(&sess.TokenHash, &sess.FamilyID, &sess.UserID, &sess.OrgID,
			&expires, &created, &used, &revoked)
		if err == sql.ErrNoRows {
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token is not valid.")
		} else if err != nil {
			return err
		}
		switch {
		case revoked.Valid:
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token was revoked.")
		case used.Valid:
			if _, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
				now.UnixMilli(), sess.FamilyID); err != nil {
				return err
			}
			reuse = true
			return nil // commit the revocation, then answer EUNAUTHORIZED
		case now.UnixMilli() >= expires:
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The refresh token has expired.")
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sessions SET used_at = ? WHERE token_hash = ?", now.UnixMilli(), tokenHash); err != nil {
			return err
		}
		sess.ExpiresAt = msTime(expires)
		sess.CreatedAt = msTime(created)
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
	now := s.nowMS()
	return s.writeTx(ctx, "revoke family", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL", now, familyID)
		return err
	})
}
