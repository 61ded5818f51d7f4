package sqlite

import (
	"context"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// This file lists the notification, firmware and gap tables for `vibemon
// migrate`, as export.go does for the others.

// ExportNotificationPrefs returns the preferences users saved (a user who
// saved none has no row and gets the defaults on both stores), by user id.
func (s *Store) ExportNotificationPrefs(ctx context.Context) ([]*vibemon.NotificationPrefs, error) {
	return exportAll(ctx, s, "export notification preferences",
		"SELECT p.user_id, p.org_id, "+prefsCols+" FROM notification_prefs p ORDER BY p.user_id", scanPrefs)
}

// ExportTelegramLinks returns every user's /start code hash, by user id.
func (s *Store) ExportTelegramLinks(ctx context.Context) ([]*migrate.TelegramLink, error) {
	return exportAll(ctx, s, "export telegram links",
		"SELECT code_hash, org_id, user_id, expires_at, chat_id FROM telegram_links ORDER BY user_id",
		func(row interface{ Scan(...any) error }) (*migrate.TelegramLink, error) {
			var l migrate.TelegramLink
			var expires int64
			if err := row.Scan(&l.CodeHash, &l.OrgID, &l.UserID, &expires, &l.ChatID); err != nil {
				return nil, err
			}
			l.ExpiresAt = msTime(expires)
			return &l, nil
		})
}

// ExportPushTokens returns every push token in id order.
func (s *Store) ExportPushTokens(ctx context.Context) ([]*vibemon.PushToken, error) {
	return exportAll(ctx, s, "export push tokens", "SELECT id, org_id, user_id, token, created_at FROM push_tokens ORDER BY id",
		func(row interface{ Scan(...any) error }) (*vibemon.PushToken, error) {
			var t vibemon.PushToken
			var created int64
			if err := row.Scan(&t.ID, &t.OrgID, &t.UserID, &t.Token, &created); err != nil {
				return nil, err
			}
			t.CreatedAt = msTime(created)
			return &t, nil
		})
}

// ExportWebhooks returns every webhook, with its secret, in id order.
func (s *Store) ExportWebhooks(ctx context.Context) ([]*vibemon.Webhook, error) {
	return exportAll(ctx, s, "export webhooks", "SELECT "+webhookCols+" FROM webhooks ORDER BY id", scanWebhook)
}

// ExportDeliveries returns the notification ledger by key.
func (s *Store) ExportDeliveries(ctx context.Context) ([]*vibemon.Delivery, error) {
	return exportAll(ctx, s, "export notification deliveries", "SELECT "+deliveryCols+" FROM notification_deliveries ORDER BY key", scanDelivery)
}

// ExportDeviceGaps returns the gaps gateways reported, by device and range.
func (s *Store) ExportDeviceGaps(ctx context.Context) ([]*migrate.DeviceGap, error) {
	return exportAll(ctx, s, "export device gaps",
		"SELECT device_id, from_seq, to_seq, reason, at, created_at FROM device_gaps ORDER BY device_id, from_seq, to_seq, reason",
		func(row interface{ Scan(...any) error }) (*migrate.DeviceGap, error) {
			var g migrate.DeviceGap
			var at, created int64
			if err := row.Scan(&g.DeviceID, &g.FromSeq, &g.ToSeq, &g.Reason, &at, &created); err != nil {
				return nil, err
			}
			g.At, g.CreatedAt = msTime(at), msTime(created)
			return &g, nil
		})
}

// ExportFirmware returns up to limit images with ids above afterID, in id
// order, with their data.
func (s *Store) ExportFirmware(ctx context.Context, afterID int64, limit int) ([]*vibemon.FirmwareImage, error) {
	return exportAll(ctx, s, "export firmware", "SELECT "+firmwareCols+", data FROM firmware_images WHERE id > ? ORDER BY id LIMIT ?",
		func(row interface{ Scan(...any) error }) (*vibemon.FirmwareImage, error) {
			var data []byte
			f, err := scanFirmware(row, &data)
			if err != nil {
				return nil, err
			}
			f.Data = data
			return f, nil
		}, afterID, limit)
}

// ExportDeviceSettings returns the settings of every device that has any,
// by device id.
func (s *Store) ExportDeviceSettings(ctx context.Context) ([]*vibemon.DeviceSettings, error) {
	return exportAll(ctx, s, "export device settings", `SELECT device_id, interval_s, range_g, sample_rate_hz, window_samples,
		coalesce(target_firmware_id, 0), burst_every_s, burst_frames, updated_at FROM device_settings ORDER BY device_id`,
		func(row interface{ Scan(...any) error }) (*vibemon.DeviceSettings, error) {
			var d vibemon.DeviceSettings
			var at int64
			if err := row.Scan(&d.DeviceID, &d.IntervalS, &d.RangeG, &d.SampleRateHz, &d.Window, &d.TargetFirmwareID,
				&d.BurstEveryS, &d.BurstFrames, &at); err != nil {
				return nil, err
			}
			d.UpdatedAt = msTime(at)
			return &d, nil
		})
}

// ExportOTAStatus returns the OTA progress of every device that reported
// any, by device id.
func (s *Store) ExportOTAStatus(ctx context.Context) ([]*vibemon.OTAStatus, error) {
	return exportAll(ctx, s, "export ota status", `SELECT device_id, firmware_id, version, state, bytes_done, bytes_total, error, updated_at
		FROM device_ota_status ORDER BY device_id`,
		func(row interface{ Scan(...any) error }) (*vibemon.OTAStatus, error) {
			var o vibemon.OTAStatus
			var at int64
			if err := row.Scan(&o.DeviceID, &o.FirmwareID, &o.Version, &o.State, &o.BytesDone, &o.BytesTotal, &o.Error, &at); err != nil {
				return nil, err
			}
			o.UpdatedAt = msTime(at)
			return &o, nil
		})
}
