package postgres

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// This file loads the notification, firmware and gap tables for `vibemon
// migrate`, as import.go does for the others: ids kept, rows already there
// skipped.

// importKeyed inserts rows of a table without an identity column (its key
// is a user, device or natural key) in one transaction.
func importKeyed[T any](ctx context.Context, s *Store, table, insert string, rows []*T, args func(*T) []any) error {
	return s.tx(ctx, "import "+table, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range rows {
			b.Queue(insert, args(r)...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// ImportNotificationPrefs inserts saved preferences with their linked
// Telegram chat and UpdatedAt.
func (s *Store) ImportNotificationPrefs(ctx context.Context, prefs []*vibemon.NotificationPrefs) error {
	return importKeyed(ctx, s, "notification_prefs", `INSERT INTO notification_prefs (user_id, org_id, channels, min_severity, asset_ids,
		quiet_start, quiet_end, time_zone, digest, digest_hour, email, telegram_chat_id, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`, prefs,
		func(p *vibemon.NotificationPrefs) []any {
			assets := p.AssetIDs
			if assets == nil {
				assets = []int64{}
			}
			ids, _ := json.Marshal(assets)
			return []any{p.UserID, p.OrgID, strings.Join(p.Channels, ","), string(p.MinSeverity), string(ids),
				p.QuietStart, p.QuietEnd, p.TimeZone, p.Digest, p.DigestHour, p.Email, p.TelegramChatID, utc(p.UpdatedAt)}
		})
}

// ImportTelegramLinks inserts the users' /start code hashes.
func (s *Store) ImportTelegramLinks(ctx context.Context, links []*migrate.TelegramLink) error {
	return importKeyed(ctx, s, "telegram_links", `INSERT INTO telegram_links (code_hash, org_id, user_id, expires_at, chat_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, links,
		func(l *migrate.TelegramLink) []any {
			return []any{l.CodeHash, l.OrgID, l.UserID, utc(l.ExpiresAt), l.ChatID}
		})
}

// ImportPushTokens inserts push tokens with their ids.
func (s *Store) ImportPushTokens(ctx context.Context, tokens []*vibemon.PushToken) error {
	return importRows(ctx, s, "push_tokens", `INSERT INTO push_tokens (id, org_id, user_id, token, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, tokens,
		func(t *vibemon.PushToken) []any { return []any{t.ID, t.OrgID, t.UserID, t.Token, utc(t.CreatedAt)} })
}

// ImportWebhooks inserts webhooks with their ids and secrets, so receivers
// keep verifying signatures with the secret they have.
func (s *Store) ImportWebhooks(ctx context.Context, hooks []*vibemon.Webhook) error {
	return importRows(ctx, s, "webhooks", `INSERT INTO webhooks (id, org_id, name, url, secret, min_severity, enabled, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, hooks,
		func(w *vibemon.Webhook) []any {
			return []any{w.ID, w.OrgID, w.Name, w.URL, w.Secret, string(w.MinSeverity), w.Enabled, utc(w.CreatedAt)}
		})
}

// ImportDeliveries inserts the notification ledger: what was sent stays
// sent (the idempotency keys), and deliveries batched for a summary are
// summarized by the target.
func (s *Store) ImportDeliveries(ctx context.Context, ds []*vibemon.Delivery) error {
	return importKeyed(ctx, s, "notification_deliveries", `INSERT INTO notification_deliveries (`+deliveryCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`, ds,
		func(d *vibemon.Delivery) []any {
			return []any{d.Key, d.OrgID, d.EventID, d.AlertID, d.UserID, d.WebhookID, d.Channel, string(d.Status),
				d.Attempts, d.Error, utc(d.CreatedAt), utc(d.UpdatedAt)}
		})
}

// ImportDeviceGaps inserts the gaps gateways reported.
func (s *Store) ImportDeviceGaps(ctx context.Context, gaps []*migrate.DeviceGap) error {
	return importKeyed(ctx, s, "device_gaps", `INSERT INTO device_gaps (device_id, from_seq, to_seq, reason, at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, gaps,
		func(g *migrate.DeviceGap) []any {
			return []any{g.DeviceID, g.FromSeq, g.ToSeq, g.Reason, utc(g.At), utc(g.CreatedAt)}
		})
}

// ImportFirmware inserts firmware images with their ids and data.
func (s *Store) ImportFirmware(ctx context.Context, images []*vibemon.FirmwareImage) error {
	return importRows(ctx, s, "firmware_images", `INSERT INTO firmware_images (id, org_id, version, hardware, size, sha256, signature, notes, data, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`, images,
		func(f *vibemon.FirmwareImage) []any {
			return []any{f.ID, f.OrgID, f.Version, f.Hardware, f.Size, f.SHA256, f.Signature, f.Notes, f.StoredData(), utc(f.CreatedAt)}
		})
}

// ImportDeviceSettings inserts device settings with their target firmware
// and UpdatedAt.
func (s *Store) ImportDeviceSettings(ctx context.Context, settings []*vibemon.DeviceSettings) error {
	return importKeyed(ctx, s, "device_settings", `INSERT INTO device_settings (device_id, interval_s, range_g, sample_rate_hz,
		window_samples, target_firmware_id, burst_every_s, burst_frames, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`, settings,
		func(d *vibemon.DeviceSettings) []any {
			return []any{d.DeviceID, d.IntervalS, d.RangeG, d.SampleRateHz, d.Window, nullID(d.TargetFirmwareID),
				d.BurstEveryS, d.BurstFrames, utc(d.UpdatedAt)}
		})
}

// ImportOTAStatus inserts the devices' latest OTA progress.
func (s *Store) ImportOTAStatus(ctx context.Context, sts []*vibemon.OTAStatus) error {
	return importKeyed(ctx, s, "device_ota_status", `INSERT INTO device_ota_status (device_id, firmware_id, version, state,
		bytes_done, bytes_total, error, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, sts,
		func(o *vibemon.OTAStatus) []any {
			return []any{o.DeviceID, o.FirmwareID, o.Version, o.State, o.BytesDone, o.BytesTotal, o.Error, utc(o.UpdatedAt)}
		})
}
