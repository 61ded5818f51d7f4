package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

var _ vibemon.NotificationStore = (*Store)(nil)

const prefsCols = "p.channels, p.min_severity, p.asset_ids, p.quiet_start, p.quiet_end, p.time_zone, p.digest, p.digest_hour, p.email, p.telegram_chat_id, p.updated_at"

// scanPrefs reads a users LEFT JOIN notification_prefs row: user id, org id,
// then prefsCols (NULL when the user saved nothing: the defaults).
func scanPrefs(row pgx.Row) (*vibemon.NotificationPrefs, error) {
	var uid, oid int64
	var chans, sev, assets, qs, qe, tz, email, chat *string
	var digest *bool
	var hour *int64
	var updated *time.Time
	if err := row.Scan(&uid, &oid, &chans, &sev, &assets, &qs, &qe, &tz, &digest, &hour, &email, &chat, &updated); err != nil {
		return nil, err
	}
	p := vibemon.DefaultNotificationPrefs(oid, uid)
	if chans != nil {
		p.Channels = splitList(*chans)
		p.MinSeverity = vibemon.Severity(*sev)
		if err := json.Unmarshal([]byte(*assets), &p.AssetIDs); err != nil || p.AssetIDs == nil {
			p.AssetIDs = []int64{}
		}
		p.QuietStart, p.QuietEnd, p.TimeZone = *qs, *qe, *tz
		p.Digest, p.DigestHour, p.Email = *digest, int(*hour), *email
		p.UpdatedAt = updated.UTC()
	}
	if chat != nil {
		p.TelegramChatID = *chat
	}
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
	row := s.pool.QueryRow(ctx, "SELECT u.id, u.org_id, "+prefsCols+` FROM users u
		LEFT JOIN notification_prefs p ON p.user_id = u.id WHERE u.org_id = $1 AND u.id = $2`, orgID, userID)
	p, err := scanPrefs(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("User")
	}
	return p, mapErr("get notification preferences", err)
}

// ListNotificationPrefs returns every user's preferences of the org.
func (s *Store) ListNotificationPrefs(ctx context.Context, orgID int64) ([]*vibemon.NotificationPrefs, error) {
	rows, err := s.pool.Query(ctx, "SELECT u.id, u.org_id, "+prefsCols+` FROM users u
		LEFT JOIN notification_prefs p ON p.user_id = u.id WHERE u.org_id = $1 ORDER BY u.id`, orgID)
	if err != nil {
		return nil, mapErr("list notification preferences", err)
	}
	out, err := collect(rows, scanPrefs)
	if out == nil {
		out = []*vibemon.NotificationPrefs{}
	}
	return out, mapErr("list notification preferences", err)
}

func userExists(ctx context.Context, tx pgx.Tx, orgID, userID int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)", orgID, userID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return notFound("User")
	}
	return nil
}

// PutNotificationPrefs validates and saves p, keeping the linked chat.
func (s *Store) PutNotificationPrefs(ctx context.Context, p *vibemon.NotificationPrefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	assets, _ := json.Marshal(p.AssetIDs)
	now := s.nowUTC()
	return s.tx(ctx, "save notification preferences", func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, p.OrgID, p.UserID); err != nil {
			return err
		}
		p.UpdatedAt = now
		return tx.QueryRow(ctx, `INSERT INTO notification_prefs (user_id, org_id, channels, min_severity, asset_ids,
			quiet_start, quiet_end, time_zone, digest, digest_hour, email, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (user_id) DO UPDATE SET channels = excluded.channels, min_severity = excluded.min_severity,
			asset_ids = excluded.asset_ids, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
			time_zone = excluded.time_zone, digest = excluded.digest, digest_hour = excluded.digest_hour,
			email = excluded.email, updated_at = excluded.updated_at RETURNING telegram_chat_id`,
			p.UserID, p.OrgID, strings.Join(p.Channels, ","), string(p.MinSeverity), string(assets),
			p.QuietStart, p.QuietEnd, p.TimeZone, p.Digest, p.DigestHour, p.Email, now).Scan(&p.TelegramChatID)
	})
}

func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// CreateTelegramLink stores a one-time /start code, replacing the user's
// earlier one.
func (s *Store) CreateTelegramLink(ctx context.Context, orgID, userID int64, code string, expires time.Time) error {
	return s.tx(ctx, "create telegram link", func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, orgID, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM telegram_links WHERE user_id = $1", userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO telegram_links (code_hash, org_id, user_id, expires_at) VALUES ($1, $2, $3, $4)",
			codeHash(code), orgID, userID, utc(expires))
		return err
	})
}

// LinkTelegram sets the chat of the code's user; the same chat may use the
// code again.
func (s *Store) LinkTelegram(ctx context.Context, code, chatID string, now time.Time) error {
	return s.tx(ctx, "link telegram", func(tx pgx.Tx) error {
		var orgID, userID int64
		var expires time.Time
		var used string
		err := tx.QueryRow(ctx, "SELECT org_id, user_id, expires_at, chat_id FROM telegram_links WHERE code_hash = $1 FOR UPDATE", codeHash(code)).
			Scan(&orgID, &userID, &expires, &used)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (!now.Before(expires) || (used != "" && used != chatID))) {
			return vibemon.Errorf(vibemon.ENOTFOUND, "The link code is unknown or has expired; open the panel's Notifications page for a new one.")
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE telegram_links SET chat_id = $1 WHERE code_hash = $2", chatID, codeHash(code)); err != nil {
			return err
		}
		d := vibemon.DefaultNotificationPrefs(orgID, userID)
		_, err = tx.Exec(ctx, `INSERT INTO notification_prefs (user_id, org_id, channels, min_severity, asset_ids,
			quiet_start, quiet_end, time_zone, digest, digest_hour, email, telegram_chat_id, updated_at)
			VALUES ($1, $2, $3, $4, '[]', '', '', '', false, $5, '', $6, $7)
			ON CONFLICT (user_id) DO UPDATE SET telegram_chat_id = excluded.telegram_chat_id`,
			userID, orgID, strings.Join(d.Channels, ","), string(d.MinSeverity), d.DigestHour, chatID, s.nowUTC())
		return err
	})
}

// UnlinkTelegram forgets the user's chat.
func (s *Store) UnlinkTelegram(ctx context.Context, orgID, userID int64) error {
	return s.tx(ctx, "unlink telegram", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE notification_prefs SET telegram_chat_id = '' WHERE org_id = $1 AND user_id = $2", orgID, userID)
		return err
	})
}

// AddPushToken stores the token for the user; a known token is moved to
// this user.
func (s *Store) AddPushToken(ctx context.Context, t *vibemon.PushToken) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "add push token", func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, t.OrgID, t.UserID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO push_tokens (org_id, user_id, token, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (token) DO UPDATE SET org_id = excluded.org_id, user_id = excluded.user_id
			RETURNING id, created_at`, t.OrgID, t.UserID, t.Token, now).Scan(&t.ID, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		return err
	})
}

func scanPushToken(row pgx.Row) (*vibemon.PushToken, error) {
	var t vibemon.PushToken
	if err := row.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Token, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// ListPushTokens returns the user's tokens.
func (s *Store) ListPushTokens(ctx context.Context, orgID, userID int64) ([]*vibemon.PushToken, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, org_id, user_id, token, created_at FROM push_tokens WHERE org_id = $1 AND user_id = $2 ORDER BY id", orgID, userID)
	if err != nil {
		return nil, mapErr("list push tokens", err)
	}
	out, err := collect(rows, scanPushToken)
	if out == nil {
		out = []*vibemon.PushToken{}
	}
	return out, mapErr("list push tokens", err)
}

// DeletePushToken removes the user's token.
func (s *Store) DeletePushToken(ctx context.Context, orgID, userID int64, token string) error {
	return s.tx(ctx, "delete push token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM push_tokens WHERE org_id = $1 AND user_id = $2 AND token = $3", orgID, userID, token)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Push token")
		}
		return nil
	})
}

const webhookCols = "id, org_id, name, url, secret, min_severity, enabled, created_at"

func scanWebhook(row pgx.Row) (*vibemon.Webhook, error) {
	var w vibemon.Webhook
	if err := row.Scan(&w.ID, &w.OrgID, &w.Name, &w.URL, &w.Secret, &w.MinSeverity, &w.Enabled, &w.CreatedAt); err != nil {
		return nil, err
	}
	w.CreatedAt = w.CreatedAt.UTC()
	return &w, nil
}

// CreateWebhook validates and inserts w.
func (s *Store) CreateWebhook(ctx context.Context, w *vibemon.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create webhook", func(tx pgx.Tx) error {
		if err := orgExists(ctx, tx, w.OrgID); err != nil {
			return err
		}
		w.CreatedAt = now
		return tx.QueryRow(ctx, `INSERT INTO webhooks (org_id, name, url, secret, min_severity, enabled, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, w.OrgID, w.Name, w.URL, w.Secret, w.MinSeverity, w.Enabled, now).Scan(&w.ID)
	})
}

// GetWebhook returns ENOTFOUND when id is not a webhook of orgID.
func (s *Store) GetWebhook(ctx context.Context, orgID, id int64) (*vibemon.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Webhook")
	}
	return w, mapErr("get webhook", err)
}

// ListWebhooks returns the org's webhooks by id.
func (s *Store) ListWebhooks(ctx context.Context, orgID int64) ([]*vibemon.Webhook, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list webhooks", err)
	}
	out, err := collect(rows, scanWebhook)
	if out == nil {
		out = []*vibemon.Webhook{}
	}
	return out, mapErr("list webhooks", err)
}

// UpdateWebhook saves name, url, secret, min_severity and enabled.
func (s *Store) UpdateWebhook(ctx context.Context, w *vibemon.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, "update webhook", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhooks SET name = $1, url = $2, secret = $3, min_severity = $4, enabled = $5
			WHERE org_id = $6 AND id = $7`, w.Name, w.URL, w.Secret, w.MinSeverity, w.Enabled, w.OrgID, w.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Webhook")
		}
		return nil
	})
}

// DeleteWebhook removes the webhook.
func (s *Store) DeleteWebhook(ctx context.Context, orgID, id int64) error {
	return s.tx(ctx, "delete webhook", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM webhooks WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Webhook")
		}
		return nil
	})
}

// NotifyCursor returns the named cursor, 0 when never set.
func (s *Store) NotifyCursor(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.pool.QueryRow(ctx, "SELECT position FROM notify_cursors WHERE name = $1", name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return pos, mapErr("notify cursor", err)
}

// AdvanceNotifyCursor moves the cursor from `from` to `to`.
func (s *Store) AdvanceNotifyCursor(ctx context.Context, name string, from, to int64) error {
	return s.tx(ctx, "advance notify cursor", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO notify_cursors (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING", name); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE notify_cursors SET position = $1 WHERE name = $2 AND position = $3", to, name, from)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return vibemon.Errorf(vibemon.ECONFLICT, "The cursor %q is not at %d.", name, from)
		}
		return nil
	})
}

const deliveryCols = "key, org_id, event_id, alert_id, user_id, webhook_id, channel, status, attempts, error, created_at, updated_at"

func scanDelivery(row pgx.Row) (*vibemon.Delivery, error) {
	var d vibemon.Delivery
	if err := row.Scan(&d.Key, &d.OrgID, &d.EventID, &d.AlertID, &d.UserID, &d.WebhookID, &d.Channel, &d.Status, &d.Attempts, &d.Error, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

// ClaimDelivery records an attempt of d, or batches it when the recipient
// is over its limit (see vibemon.NotificationStore). A transaction-scoped
// advisory lock per recipient makes the count and the insert one step
// across replicas.
func (s *Store) ClaimDelivery(ctx context.Context, d *vibemon.Delivery, limit int, since time.Time) (*vibemon.Delivery, error) {
	now := s.nowUTC()
	var out *vibemon.Delivery
	err := s.tx(ctx, "claim delivery", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
			fmt.Sprintf("vibemon.notify.%s.%d.%d", d.Channel, d.UserID, d.WebhookID)); err != nil {
			return err
		}
		cur, err := scanDelivery(tx.QueryRow(ctx, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE key = $1", d.Key))
		if err == nil && (cur.Status.Final() || cur.Status == vibemon.DeliveryBatched) {
			out = cur
			return nil
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		status := vibemon.DeliverySending
		if cur == nil && limit > 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE user_id = $1 AND channel = $2
				AND status IN ('sending', 'delivered') AND created_at >= $3 AND key <> $4`, d.UserID, d.Channel, utc(since), d.Key).Scan(&n); err != nil {
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
		out, err = scanDelivery(tx.QueryRow(ctx, `INSERT INTO notification_deliveries AS d (`+deliveryCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $10)
			ON CONFLICT (key) DO UPDATE SET attempts = d.attempts + 1, updated_at = excluded.updated_at
			RETURNING `+deliveryCols,
			d.Key, d.OrgID, d.EventID, d.AlertID, d.UserID, d.WebhookID, d.Channel, status, attempts, now))
		return err
	})
	return out, err
}

// FinishDelivery sets the status and error of the delivery of key.
func (s *Store) FinishDelivery(ctx context.Context, key string, status vibemon.DeliveryStatus, errMsg string) error {
	return s.tx(ctx, "finish delivery", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE notification_deliveries SET status = $1, error = $2, updated_at = $3 WHERE key = $4",
			status, errMsg, s.nowUTC(), key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Delivery")
		}
		return nil
	})
}

// GetDelivery returns ENOTFOUND when no delivery has key.
func (s *Store) GetDelivery(ctx context.Context, key string) (*vibemon.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE key = $1", key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Delivery")
	}
	return d, mapErr("get delivery", err)
}

// ListBatchedDeliveries returns the user's batched deliveries on channel.
func (s *Store) ListBatchedDeliveries(ctx context.Context, orgID, userID int64, channel string) ([]*vibemon.Delivery, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+deliveryCols+` FROM notification_deliveries
		WHERE org_id = $1 AND user_id = $2 AND channel = $3 AND status = 'batched' ORDER BY created_at, key`, orgID, userID, channel)
	if err != nil {
		return nil, mapErr("list batched deliveries", err)
	}
	out, err := collect(rows, scanDelivery)
	if out == nil {
		out = []*vibemon.Delivery{}
	}
	return out, mapErr("list batched deliveries", err)
}

// MarkSummarized sets the deliveries of keys to summarized.
func (s *Store) MarkSummarized(ctx context.Context, keys []string) error {
	now := s.nowUTC()
	return s.tx(ctx, "mark deliveries summarized", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE notification_deliveries SET status = 'summarized', updated_at = $1 WHERE key = ANY($2) AND status = 'batched'", now, keys)
		return err
	})
}
