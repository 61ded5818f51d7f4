package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

var _ vibemon.NotificationStore = (*Store)(nil)

const prefsCols = "p.channels, p.min_severity, p.asset_ids, p.quiet_start, p.quiet_end, p.time_zone, p.digest, p.digest_hour, p.email, p.telegram_chat_id, p.updated_at"

// scanPrefs reads a users LEFT JOIN notification_prefs row: user id, org id,
// then prefsCols (NULL when the user saved nothing: the defaults).
func scanPrefs(row interface{ Scan(...any) error }) (*vibemon.NotificationPrefs, error) {
	var uid, oid int64
	var chans, sev, assets, qs, qe, tz, email, chat sql.NullString
	var digest sql.NullBool
	var hour, updated sql.NullInt64
	if err := row.Scan(&uid, &oid, &chans, &sev, &assets, &qs, &qe, &tz, &digest, &hour, &email, &chat, &updated); err != nil {
		return nil, err
	}
	p := vibemon.DefaultNotificationPrefs(oid, uid)
	if chans.Valid {
		p.Channels = splitList(chans.String)
		p.MinSeverity = vibemon.Severity(sev.String)
		if err := json.Unmarshal([]byte(assets.String), &p.AssetIDs); err != nil || p.AssetIDs == nil {
			p.AssetIDs = []int64{}
		}
		p.QuietStart, p.QuietEnd, p.TimeZone = qs.String, qe.String, tz.String
		p.Digest, p.DigestHour, p.Email = digest.Bool, int(hour.Int64), email.String
		p.UpdatedAt = msTime(updated.Int64)
	}
	p.TelegramChatID = chat.String
	return p, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// GetNotificationPrefs returns the user's preferences (defaults when none
// were saved); ENOTFOUND when userID is not a user of orgID.
func (s *Store) GetNotificationPrefs(ctx context.Context, orgID, userID int64) (*vibemon.NotificationPrefs, error) {
	row := s.rdb.QueryRowContext(ctx, "SELECT u.id, u.org_id, "+prefsCols+` FROM users u
		LEFT JOIN notification_prefs p ON p.user_id = u.id WHERE u.org_id = ? AND u.id = ?`, orgID, userID)
	p, err := scanPrefs(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("User")
	}
	return p, mapErr("get notification preferences", err)
}

// ListNotificationPrefs returns every user's preferences of the org.
func (s *Store) ListNotificationPrefs(ctx context.Context, orgID int64) ([]*vibemon.NotificationPrefs, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT u.id, u.org_id, "+prefsCols+` FROM users u
		LEFT JOIN notification_prefs p ON p.user_id = u.id WHERE u.org_id = ? ORDER BY u.id`, orgID)
	if err != nil {
		return nil, mapErr("list notification preferences", err)
	}
	defer rows.Close()
	out := []*vibemon.NotificationPrefs{}
	for rows.Next() {
		p, err := scanPrefs(rows)
		if err != nil {
			return nil, mapErr("list notification preferences", err)
		}
		out = append(out, p)
	}
	return out, mapErr("list notification preferences", rows.Err())
}

// PutNotificationPrefs validates and saves p, keeping the linked chat.
func (s *Store) PutNotificationPrefs(ctx context.Context, p *vibemon.NotificationPrefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	assets, _ := json.Marshal(p.AssetIDs)
	now := s.nowMS()
	return s.writeTx(ctx, "save notification preferences", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE org_id = ? AND id = ?", p.OrgID, p.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("User")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notification_prefs (user_id, org_id, channels, min_severity, asset_ids,
			quiet_start, quiet_end, time_zone, digest, digest_hour, email, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET channels = excluded.channels, min_severity = excluded.min_severity,
			asset_ids = excluded.asset_ids, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
			time_zone = excluded.time_zone, digest = excluded.digest, digest_hour = excluded.digest_hour,
			email = excluded.email, updated_at = excluded.updated_at`,
			p.UserID, p.OrgID, strings.Join(p.Channels, ","), string(p.MinSeverity), string(assets),
			p.QuietStart, p.QuietEnd, p.TimeZone, p.Digest, p.DigestHour, p.Email, now)
		if err != nil {
			return err
		}
		p.UpdatedAt = msTime(now)
		return tx.QueryRowContext(ctx, "SELECT telegram_chat_id FROM notification_prefs WHERE user_id = ?", p.UserID).Scan(&p.TelegramChatID)
	})
}

// ensurePrefsRow inserts the default preferences row of a user who has none,
// so that the link flow has a row to set the chat on.
func ensurePrefsRow(ctx context.Context, tx *sql.Tx, orgID, userID, now int64) error {
	d := vibemon.DefaultNotificationPrefs(orgID, userID)
	_, err := tx.ExecContext(ctx, `INSERT INTO notification_prefs (user_id, org_id, channels, min_severity, asset_ids,
		quiet_start, quiet_end, time_zone, digest, digest_hour, email, updated_at)
		VALUES (?, ?, ?, ?, '[]', '', '', '', 0, ?, '', ?) ON CONFLICT (user_id) DO NOTHING`,
		userID, orgID, strings.Join(d.Channels, ","), string(d.MinSeverity), d.DigestHour, now)
	return err
}

func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// CreateTelegramLink stores a one-time /start code, replacing the user's
// earlier one.
func (s *Store) CreateTelegramLink(ctx context.Context, orgID, userID int64, code string, expires time.Time) error {
	return s.writeTx(ctx, "create telegram link", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE org_id = ? AND id = ?", orgID, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("User")
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM telegram_links WHERE user_id = ?", userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO telegram_links (code_hash, org_id, user_id, expires_at) VALUES (?, ?, ?, ?)",
			codeHash(code), orgID, userID, expires.UnixMilli())
		return err
	})
}

// LinkTelegram sets the chat of the code's user; the same chat may use the
// code again.
func (s *Store) LinkTelegram(ctx context.Context, code, chatID string, now time.Time) error {
	return s.writeTx(ctx, "link telegram", func(tx *sql.Tx) error {
		var orgID, userID, expires int64
		var used string
		err := tx.QueryRowContext(ctx, "SELECT org_id, user_id, expires_at, chat_id FROM telegram_links WHERE code_hash = ?", codeHash(code)).
			Scan(&orgID, &userID, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (now.UnixMilli() >= expires || (used != "" && used != chatID))) {
			return vibemon.Errorf(vibemon.ENOTFOUND, "The link code is unknown or has expired; open the panel's Notifications page for a new one.")
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE telegram_links SET chat_id = ? WHERE code_hash = ?", chatID, codeHash(code)); err != nil {
			return err
		}
		if err := ensurePrefsRow(ctx, tx, orgID, userID, s.nowMS()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE notification_prefs SET telegram_chat_id = ? WHERE user_id = ?", chatID, userID)
		return err
	})
}

// UnlinkTelegram forgets the user's chat.
func (s *Store) UnlinkTelegram(ctx context.Context, orgID, userID int64) error {
	return s.writeTx(ctx, "unlink telegram", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE notification_prefs SET telegram_chat_id = '' WHERE org_id = ? AND user_id = ?", orgID, userID)
		return err
	})
}

// AddPushToken stores the token for the user; a known token is moved to
// this user.
func (s *Store) AddPushToken(ctx context.Context, t *vibemon.PushToken) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "add push token", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE org_id = ? AND id = ?", t.OrgID, t.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("User")
		}
		var created int64
		err := tx.QueryRowContext(ctx, `INSERT INTO push_tokens (org_id, user_id, token, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (token) DO UPDATE SET org_id = excluded.org_id, user_id = excluded.user_id
			RETURNING id, created_at`, t.OrgID, t.UserID, t.Token, now).Scan(&t.ID, &created)
		t.CreatedAt = msTime(created)
		return err
	})
}

// ListPushTokens returns the user's tokens.
func (s *Store) ListPushTokens(ctx context.Context, orgID, userID int64) ([]*vibemon.PushToken, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, org_id, user_id, token, created_at FROM push_tokens WHERE org_id = ? AND user_id = ? ORDER BY id", orgID, userID)
	if err != nil {
		return nil, mapErr("list push tokens", err)
	}
	defer rows.Close()
	out := []*vibemon.PushToken{}
	for rows.Next() {
		var t vibemon.PushToken
		var created int64
		if err := rows.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Token, &created); err != nil {
			return nil, mapErr("list push tokens", err)
		}
		t.CreatedAt = msTime(created)
		out = append(out, &t)
	}
	return out, mapErr("list push tokens", rows.Err())
}

// DeletePushToken removes the user's token.
func (s *Store) DeletePushToken(ctx context.Context, orgID, userID int64, token string) error {
	return s.writeTx(ctx, "delete push token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM push_tokens WHERE org_id = ? AND user_id = ? AND token = ?", orgID, userID, token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Push token")
		}
		return nil
	})
}

const webhookCols = "id, org_id, name, url, secret, min_severity, enabled, created_at"

func scanWebhook(row interface{ Scan(...any) error }) (*vibemon.Webhook, error) {
	var w vibemon.Webhook
	var created int64
	if err := row.Scan(&w.ID, &w.OrgID, &w.Name, &w.URL, &w.Secret, &w.MinSeverity, &w.Enabled, &created); err != nil {
		return nil, err
	}
	w.CreatedAt = msTime(created)
	return &w, nil
}

// CreateWebhook validates and inserts w.
func (s *Store) CreateWebhook(ctx context.Context, w *vibemon.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create webhook", func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, w.OrgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO webhooks (org_id, name, url, secret, min_severity, enabled, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, w.OrgID, w.Name, w.URL, w.Secret, w.MinSeverity, w.Enabled, now)
		if err != nil {
			return err
		}
		w.ID, _ = res.LastInsertId()
		w.CreatedAt = msTime(now)
		return nil
	})
}

// GetWebhook returns ENOTFOUND when id is not a webhook of orgID.
func (s *Store) GetWebhook(ctx context.Context, orgID, id int64) (*vibemon.Webhook, error) {
	w, err := scanWebhook(s.rdb.QueryRowContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE org_id = ? AND id = ?", orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Webhook")
	}
	return w, mapErr("get webhook", err)
}

// ListWebhooks returns the org's webhooks by id.
func (s *Store) ListWebhooks(ctx context.Context, orgID int64) ([]*vibemon.Webhook, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list webhooks", err)
	}
	defer rows.Close()
	out := []*vibemon.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, mapErr("list webhooks", err)
		}
		out = append(out, w)
	}
	return out, mapErr("list webhooks", rows.Err())
}

// UpdateWebhook saves name, url, secret, min_severity and enabled.
func (s *Store) UpdateWebhook(ctx context.Context, w *vibemon.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return s.writeTx(ctx, "update webhook", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET name = ?, url = ?, secret = ?, min_severity = ?, enabled = ?
			WHERE org_id = ? AND id = ?`, w.Name, w.URL, w.Secret, w.MinSeverity, w.Enabled, w.OrgID, w.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Webhook")
		}
		return nil
	})
}

// DeleteWebhook removes the webhook.
func (s *Store) DeleteWebhook(ctx context.Context, orgID, id int64) error {
	return s.writeTx(ctx, "delete webhook", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM webhooks WHERE org_id = ? AND id = ?", orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Webhook")
		}
		return nil
	})
}

// NotifyCursor returns the named cursor, 0 when never set.
func (s *Store) NotifyCursor(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.rdb.QueryRowContext(ctx, "SELECT position FROM notify_cursors WHERE name = ?", name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, mapErr("notify cursor", err)
}

// AdvanceNotifyCursor moves the cursor from `from` to `to`.
func (s *Store) AdvanceNotifyCursor(ctx context.Context, name string, from, to int64) error {
	return s.writeTx(ctx, "advance notify cursor", func(tx *sql.Tx) error {
		var pos int64
		err := tx.QueryRowContext(ctx, "SELECT position FROM notify_cursors WHERE name = ?", name).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			pos = 0
		} else if err != nil {
			return err
		}
		if pos != from {
			return vibemon.Errorf(vibemon.ECONFLICT, "The cursor %q is at %d, not %d.", name, pos, from)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO notify_cursors (name, position) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET position = excluded.position`, name, to)
		return err
	})
}

const deliveryCols = "key, org_id, event_id, alert_id, user_id, webhook_id, channel, status, attempts, error, created_at, updated_at"

func scanDelivery(row interface{ Scan(...any) error }) (*vibemon.Delivery, error) {
	var d vibemon.Delivery
	var created, updated int64
	if err := row.Scan(&d.Key, &d.OrgID, &d.EventID, &d.AlertID, &d.UserID, &d.WebhookID, &d.Channel, &d.Status, &d.Attempts, &d.Error, &created, &updated); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = msTime(created), msTime(updated)
	return &d, nil
}

// ClaimDelivery records an attempt of d, or batches it when the recipient
// is over its limit (see vibemon.NotificationStore).
func (s *Store) ClaimDelivery(ctx context.Context, d *vibemon.Delivery, limit int, since time.Time) (*vibemon.Delivery, error) {
	now := s.nowMS()
	var out *vibemon.Delivery
	err := s.writeTx(ctx, "claim delivery", func(tx *sql.Tx) error {
		cur, err := scanDelivery(tx.QueryRowContext(ctx, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE key = ?", d.Key))
		if err == nil && (cur.Status.Final() || cur.Status == vibemon.DeliveryBatched) {
			out = cur
			return nil
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		status := vibemon.DeliverySending
		if cur == nil && limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notification_deliveries WHERE user_id = ? AND channel = ?
				AND status IN ('sending', 'delivered') AND created_at >= ? AND key <> ?`, d.UserID, d.Channel, since.UnixMilli(), d.Key).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				status = vibemon.DeliveryBatched
			}
		}
		attempts := 0
		if status == vibemon.DeliverySending {
			attempts = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notification_deliveries (`+deliveryCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)
			ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1, updated_at = excluded.updated_at`,
			d.Key, d.OrgID, d.EventID, d.AlertID, d.UserID, d.WebhookID, d.Channel, status, attempts, now, now); err != nil {
			return err
		}
		out, err = scanDelivery(tx.QueryRowContext(ctx, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE key = ?", d.Key))
		return err
	})
	return out, err
}

// FinishDelivery sets the status and error of the delivery of key.
func (s *Store) FinishDelivery(ctx context.Context, key string, status vibemon.DeliveryStatus, errMsg string) error {
	return s.writeTx(ctx, "finish delivery", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE notification_deliveries SET status = ?, error = ?, updated_at = ? WHERE key = ?",
			status, errMsg, s.nowMS(), key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Delivery")
		}
		return nil
	})
}

// GetDelivery returns ENOTFOUND when no delivery has key.
func (s *Store) GetDelivery(ctx context.Context, key string) (*vibemon.Delivery, error) {
	d, err := scanDelivery(s.rdb.QueryRowContext(ctx, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE key = ?", key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Delivery")
	}
	return d, mapErr("get delivery", err)
}

// ListBatchedDeliveries returns the user's batched deliveries on channel.
func (s *Store) ListBatchedDeliveries(ctx context.Context, orgID, userID int64, channel string) ([]*vibemon.Delivery, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+deliveryCols+` FROM notification_deliveries
		WHERE org_id = ? AND user_id = ? AND channel = ? AND status = 'batched' ORDER BY created_at, key`, orgID, userID, channel)
	if err != nil {
		return nil, mapErr("list batched deliveries", err)
	}
	defer rows.Close()
	out := []*vibemon.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, mapErr("list batched deliveries", err)
		}
		out = append(out, d)
	}
	return out, mapErr("list batched deliveries", rows.Err())
}

// MarkSummarized sets the deliveries of keys to summarized.
func (s *Store) MarkSummarized(ctx context.Context, keys []string) error {
	now := s.nowMS()
	return s.writeTx(ctx, "mark deliveries summarized", func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, "UPDATE notification_deliveries SET status = 'summarized', updated_at = ? WHERE key = ? AND status = 'batched'", now, k); err != nil {
				return err
			}
		}
		return nil
	})
}
