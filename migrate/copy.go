package migrate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vibemon/vibemon/progress"
)

// copier carries one run of a copy.
type copier struct {
	src Source
	dst Target
	cfg Config
	st  *state
	bar *progress.Bar
}

// chunk is how many rows of the small tables one Import call carries.
const chunk = 500

// waveformPage is how many bursts one page carries (each up to 384 KiB).
const waveformPage = 20

// firmwarePage is how many firmware images one page carries (each up to
// 4 MiB).
const firmwarePage = 4

func (c *copier) stored(ctx context.Context, table string, n int64) error {
	c.st.Copied[table] += n
	if err := c.st.save(); err != nil {
		return err
	}
	c.bar.Add(n)
	if c.cfg.AfterBatch != nil {
		c.cfg.AfterBatch(table, c.bar.Done)
	}
	return ctx.Err()
}

// copyTable copies a small table in chunks, unless the state says it is done.
func copyTable[T any](ctx context.Context, c *copier, table string, export func(context.Context) ([]*T, error), imp func(context.Context, []*T) error) error {
	if c.st.Done[table] {
		return nil
	}
	rows, err := export(ctx)
	if err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	c.bar.Add(-c.st.Copied[table]) // the table starts over: its imports skip what is there
	c.st.Copied[table] = 0
	for i := 0; i < len(rows); i += chunk {
		part := rows[i:min(i+chunk, len(rows))]
		if err := imp(ctx, part); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		if err := c.stored(ctx, table, int64(len(part))); err != nil {
			return err
		}
	}
	c.st.Done[table] = true
	c.cfg.Logger.Info("table copied", "table", table, "rows", len(rows))
	return c.st.save()
}

func (c *copier) copyAll(ctx context.Context) error {
	for _, n := range c.st.Copied {
		c.bar.Initial += n
	}
	c.bar.Done = c.bar.Initial
	steps := []func() error{
		func() error { return copyTable(ctx, c, "orgs", c.src.ExportOrgs, c.dst.ImportOrgs) },
		func() error { return copyTable(ctx, c, "users", c.src.ExportUsers, c.dst.ImportUsers) },
		func() error { return copyTable(ctx, c, "assets", c.src.ExportAssets, c.dst.ImportAssets) },
		func() error { return copyTable(ctx, c, "devices", c.src.ExportDevices, c.dst.ImportDevices) },
		func() error { return copyTable(ctx, c, "api_keys", c.src.ExportAPIKeys, c.dst.ImportAPIKeys) },
		func() error {
			return copyTable(ctx, c, "notification_prefs", c.src.ExportNotificationPrefs, c.dst.ImportNotificationPrefs)
		},
		func() error {
			return copyTable(ctx, c, "telegram_links", c.src.ExportTelegramLinks, c.dst.ImportTelegramLinks)
		},
		func() error { return copyTable(ctx, c, "push_tokens", c.src.ExportPushTokens, c.dst.ImportPushTokens) },
		func() error { return copyTable(ctx, c, "webhooks", c.src.ExportWebhooks, c.dst.ImportWebhooks) },
		func() error { return c.copyFirmware(ctx) },
		func() error {
			return copyTable(ctx, c, "device_settings", c.src.ExportDeviceSettings, c.dst.ImportDeviceSettings)
		},
		func() error {
			return copyTable(ctx, c, "device_ota_status", c.src.ExportOTAStatus, c.dst.ImportOTAStatus)
		},
		func() error { return copyTable(ctx, c, "device_gaps", c.src.ExportDeviceGaps, c.dst.ImportDeviceGaps) },
		func() error { return copyTable(ctx, c, "rules", c.src.ExportRules, c.dst.ImportRules) },
		func() error {
			return copyTable(ctx, c, "maintenance_windows", c.src.ExportMaintenance, c.dst.ImportMaintenance)
		},
		func() error { return copyTable(ctx, c, "alerts", c.src.ExportAlerts, c.dst.ImportAlerts) },
		func() error {
			return copyTable(ctx, c, "alert_events", c.src.ExportAlertEvents, c.dst.ImportAlertEvents)
		},
		func() error {
			return copyTable(ctx, c, "notification_deliveries", c.src.ExportDeliveries, c.dst.ImportDeliveries)
		},
		func() error { return c.copyWaveforms(ctx) },
		func() error { return copyTable(ctx, c, "models", c.src.ExportModels, c.dst.ImportModels) },
		func() error { return c.preparePartitions(ctx) },
		func() error { return c.copyPrunedRollups(ctx) }, // before the readings: see ImportRollups
		func() error { return c.copyReadings(ctx) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) copyWaveforms(ctx context.Context) error {
	if c.st.Done["waveforms"] {
		return nil
	}
	for {
		ws, err := c.src.ExportWaveforms(ctx, c.st.WaveformAfter, waveformPage)
		if err != nil {
			return fmt.Errorf("copy waveforms: %w", err)
		}
		if len(ws) == 0 {
			break
		}
		if err := c.dst.ImportWaveforms(ctx, ws); err != nil {
			return fmt.Errorf("copy waveforms: %w", err)
		}
		c.st.WaveformAfter = ws[len(ws)-1].ID
		if err := c.stored(ctx, "waveforms", int64(len(ws))); err != nil {
			return err
		}
	}
	c.st.Done["waveforms"] = true
	return c.st.save()
}

// copyFirmware copies the firmware images a few per page (each up to
// 4 MiB), recording the last id stored.
func (c *copier) copyFirmware(ctx context.Context) error {
	if c.st.Done["firmware_images"] {
		return nil
	}
	for {
		fs, err := c.src.ExportFirmware(ctx, c.st.FirmwareAfter, firmwarePage)
		if err != nil {
			return fmt.Errorf("copy firmware images: %w", err)
		}
		if len(fs) == 0 {
			break
		}
		if err := c.dst.ImportFirmware(ctx, fs); err != nil {
			return fmt.Errorf("copy firmware images: %w", err)
		}
		c.st.FirmwareAfter = fs[len(fs)-1].ID
		if err := c.stored(ctx, "firmware_images", int64(len(fs))); err != nil {
			return err
		}
	}
	c.st.Done["firmware_images"] = true
	return c.st.save()
}

// rollupPage is how many rollup rows one ImportRollups call carries.
const rollupPage = 2000

// PartitionPreparer is a Target that partitions its readings by time and
// can make the partitions of a past range before rows of it arrive
// (postgres.Store); otherwise the history would land in a default
// partition first.
type PartitionPreparer interface {
	PreparePartitions(ctx context.Context, from, to time.Time) error
}

// preparePartitions makes the target's partitions from the source's oldest
// reading, or the oldest day of rollups that retention left of pruned
// ones, to now, when the target has such partitions.
func (c *copier) preparePartitions(ctx context.Context) error {
	pp, ok := c.dst.(PartitionPreparer)
	if !ok || c.st.Done["readings"] {
		return nil
	}
	devices, err := c.src.ExportDevices(ctx)
	if err != nil {
		return fmt.Errorf("prepare partitions: %w", err)
	}
	var from time.Time
	older := func(t time.Time) {
		if from.IsZero() || t.Before(from) {
			from = t
		}
	}
	for _, d := range devices {
		oldest, ok, err := c.src.OldestReading(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("prepare partitions: %w", err)
		}
		if ok {
			older(oldest)
		} else {
			oldest = time.Time{}
		}
		first, err := c.src.ExportPrunedRollups(ctx, d.ID, "rollup_1d", oldest, time.Time{}, 1)
		if err != nil {
			return fmt.Errorf("prepare partitions: %w", err)
		}
		if len(first) > 0 {
			older(first[0].BucketStart)
		}
	}
	if from.IsZero() {
		return nil
	}
	if err := pp.PreparePartitions(ctx, from, time.Now()); err != nil {
		return fmt.Errorf("prepare partitions: %w", err)
	}
	return nil
}

// copyPrunedRollups copies, device by device, what readings the source
// pruned by retention contributed to its rollups, so that the target's
// charts reach as far back as the source's. It runs before the readings,
// whose InsertReadings then add their part to the bucket they share.
//
// When the target already holds readings of a device (a copy made by an
// older version, or rerun with --resume after losing the state file), the
// bucket the pruned and the kept readings share at each level is left out:
// writing it would replace what those readings added.
func (c *copier) copyPrunedRollups(ctx context.Context) error {
	if c.st.Done["rollups"] {
		return nil
	}
	devices, err := c.src.ExportDevices(ctx)
	if err != nil {
		return fmt.Errorf("copy rollups: %w", err)
	}
	have, err := c.dst.CountReadingsByDevice(ctx)
	if err != nil {
		return fmt.Errorf("copy rollups: %w", err)
	}
	var total int64
	for _, d := range devices {
		key := deviceKey(d.ID)
		if c.st.RollupsDone[key] {
			continue
		}
		oldest, ok, err := c.src.OldestReading(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("copy rollups of device %d: %w", d.ID, err)
		}
		if !ok {
			oldest = time.Time{}
		}
		for _, table := range RollupTables {
			var after time.Time
			if ms, ok := c.st.RollupsAfter[key+"/"+table]; ok {
				after = time.UnixMilli(ms).UTC()
			}
			shared := oldest.Truncate(RollupWidth[table])
			for {
				rows, err := c.src.ExportPrunedRollups(ctx, d.ID, table, oldest, after, rollupPage)
				if err != nil {
					return fmt.Errorf("copy %s of device %d: %w", table, d.ID, err)
				}
				if len(rows) == 0 {
					break
				}
				after = rows[len(rows)-1].BucketStart
				if have[d.ID] > 0 && !oldest.IsZero() {
					rows = slices.DeleteFunc(rows, func(r *RollupRow) bool { return !r.BucketStart.Before(shared) })
				}
				if err := c.dst.ImportRollups(ctx, table, rows); err != nil {
					return fmt.Errorf("copy %s of device %d: %w", table, d.ID, err)
				}
				total += int64(len(rows))
				c.st.RollupsAfter[key+"/"+table] = after.UnixMilli()
				if err := c.st.save(); err != nil {
					return err
				}
				if c.cfg.AfterBatch != nil {
					c.cfg.AfterBatch("rollups", c.bar.Done)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		c.st.RollupsDone[key] = true
		if err := c.st.save(); err != nil {
			return err
		}
	}
	c.st.Done["rollups"] = true
	if total > 0 {
		c.cfg.Logger.Info("rollups of pruned readings copied", "rows", total)
	}
	return c.st.save()
}

// copyReadings copies each device's readings in seq order, a page per
// InsertReadings call, and records the last seq stored so that a rerun
// continues after it.
func (c *copier) copyReadings(ctx context.Context) error {
	if c.st.Done["readings"] {
		return nil
	}
	devices, err := c.src.ExportDevices(ctx)
	if err != nil {
		return fmt.Errorf("copy readings: %w", err)
	}
	for _, d := range devices {
		key := deviceKey(d.ID)
		if c.st.ReadingsDone[key] {
			continue
		}
		after, ok := c.st.ReadingsAfter[key]
		if !ok {
			after = -1
		}
		for {
			page, err := c.src.ExportReadings(ctx, d.ID, after, c.cfg.PageSize)
			if err != nil {
				return fmt.Errorf("copy readings of device %d: %w", d.ID, err)
			}
			if len(page) == 0 {
				break
			}
			if _, err := c.dst.InsertReadings(ctx, d.OrgID, page); err != nil {
				return fmt.Errorf("copy readings of device %d: %w", d.ID, err)
			}
			after = page[len(page)-1].Seq
			c.st.ReadingsAfter[key] = after
			if err := c.stored(ctx, "readings", int64(len(page))); err != nil {
				return err
			}
			if len(page) < c.cfg.PageSize {
				break
			}
		}
		c.st.ReadingsDone[key] = true
		if err := c.st.save(); err != nil {
			return err
		}
	}
	c.st.Done["readings"] = true
	return c.st.save()
}
