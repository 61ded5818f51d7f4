package migrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/progress"
)

// Counter counts the rows a copy must carry over, for the check at the end.
type Counter interface {
	// CountRows returns the rows of each table of Tables.
	CountRows(ctx context.Context) (map[string]int64, error)
	// CountReadingsByDevice returns the readings of each device that has any.
	CountReadingsByDevice(ctx context.Context) (map[int64]int64, error)
	// CountRolledUpByDevice returns, per device, how many readings its
	// daily rollups count (pruned raw readings included).
	CountRolledUpByDevice(ctx context.Context) (map[int64]int64, error)
}

// Source is a store that can list everything it keeps, across orgs, in id
// order. sqlite.Store implements it.
type Source interface {
	Counter
	ExportOrgs(ctx context.Context) ([]*vibemon.Org, error)
	ExportUsers(ctx context.Context) ([]*vibemon.User, error)
	ExportAssets(ctx context.Context) ([]*vibemon.Asset, error)
	ExportDevices(ctx context.Context) ([]*vibemon.Device, error)
	// ExportAPIKeys returns every API key (revoked ones too) with its hash.
	ExportAPIKeys(ctx context.Context) ([]*vibemon.APIKey, error)
	ExportRules(ctx context.Context) ([]*vibemon.Rule, error)
	ExportMaintenance(ctx context.Context) ([]*vibemon.MaintenanceWindow, error)
	// ExportAlerts includes resolved alerts.
	ExportAlerts(ctx context.Context) ([]*vibemon.Alert, error)
	// ExportAlertEvents returns the alerts' timelines in id order.
	ExportAlertEvents(ctx context.Context) ([]*vibemon.AlertEvent, error)
	ExportModels(ctx context.Context) ([]*vibemon.Model, error)
	// ExportNotificationPrefs returns the preferences users saved (not the
	// defaults of users who saved none), by user id.
	ExportNotificationPrefs(ctx context.Context) ([]*vibemon.NotificationPrefs, error)
	// ExportTelegramLinks returns the users' /start codes (hashes), used
	// or not.
	ExportTelegramLinks(ctx context.Context) ([]*TelegramLink, error)
	ExportPushTokens(ctx context.Context) ([]*vibemon.PushToken, error)
	// ExportWebhooks returns every webhook with its secret.
	ExportWebhooks(ctx context.Context) ([]*vibemon.Webhook, error)
	// ExportDeliveries returns the notification ledger, by key.
	ExportDeliveries(ctx context.Context) ([]*vibemon.Delivery, error)
	// ExportDeviceGaps returns the gaps gateways reported.
	ExportDeviceGaps(ctx context.Context) ([]*DeviceGap, error)
	// ExportFirmware returns up to limit firmware images with ids above
	// afterID, in id order, with their data.
	ExportFirmware(ctx context.Context, afterID int64, limit int) ([]*vibemon.FirmwareImage, error)
	// ExportDeviceSettings returns the settings of the devices that have
	// any.
	ExportDeviceSettings(ctx context.Context) ([]*vibemon.DeviceSettings, error)
	// ExportOTAStatus returns the OTA progress of the devices that
	// reported any.
	ExportOTAStatus(ctx context.Context) ([]*vibemon.OTAStatus, error)
	// ExportWaveforms returns up to limit bursts with ids above afterID,
	// in id order, with data and analysis.
	ExportWaveforms(ctx context.Context, afterID int64, limit int) ([]*vibemon.Waveform, error)
	// OldestReading returns the ts of the device's oldest reading; false
	// when it has none.
	OldestReading(ctx context.Context, deviceID int64) (time.Time, bool, error)
	// ExportPrunedRollups returns up to limit rows of the device's rollup
	// table (one of RollupTables) with buckets after `after` (zero: from the
	// first), in bucket order, holding only what readings the store no
	// longer has (pruned by retention) contributed: every bucket before the
	// one of oldest whole, that bucket less what its kept readings add (min
	// and max as they are: they stay exact once those readings are added
	// back), and nothing after it. A zero oldest (no readings left) returns
	// every bucket whole. Rows that keep no reading are left out.
	ExportPrunedRollups(ctx context.Context, deviceID int64, table string, oldest, after time.Time, limit int) ([]*RollupRow, error)
	// ExportReadings returns up to limit readings of the device with seq
	// above afterSeq, in seq order.
	ExportReadings(ctx context.Context, deviceID, afterSeq int64, limit int) ([]vibemon.Reading, error)
}

// Target is a store that can take rows with their ids. Every Import method
// skips rows that are already there, so a copy can be repeated.
// postgres.Store implements it.
type Target interface {
	Counter
	vibemon.ReadingStore
	ImportOrgs(ctx context.Context, orgs []*vibemon.Org) error
	ImportUsers(ctx context.Context, users []*vibemon.User) error
	ImportAssets(ctx context.Context, assets []*vibemon.Asset) error
	ImportDevices(ctx context.Context, devices []*vibemon.Device) error
	ImportAPIKeys(ctx context.Context, keys []*vibemon.APIKey) error
	ImportRules(ctx context.Context, rules []*vibemon.Rule) error
	ImportMaintenance(ctx context.Context, ws []*vibemon.MaintenanceWindow) error
	ImportAlerts(ctx context.Context, alerts []*vibemon.Alert) error
	// ImportAlertEvents also moves the notification dispatcher past the
	// imported events: they were notified (or not) by the source.
	ImportAlertEvents(ctx context.Context, events []*vibemon.AlertEvent) error
	ImportWaveforms(ctx context.Context, ws []*vibemon.Waveform) error
	ImportModels(ctx context.Context, models []*vibemon.Model) error
	// ImportNotificationPrefs keeps UpdatedAt and the linked Telegram chat.
	ImportNotificationPrefs(ctx context.Context, prefs []*vibemon.NotificationPrefs) error
	ImportTelegramLinks(ctx context.Context, links []*TelegramLink) error
	ImportPushTokens(ctx context.Context, tokens []*vibemon.PushToken) error
	ImportWebhooks(ctx context.Context, hooks []*vibemon.Webhook) error
	ImportDeliveries(ctx context.Context, ds []*vibemon.Delivery) error
	ImportDeviceGaps(ctx context.Context, gaps []*DeviceGap) error
	ImportFirmware(ctx context.Context, images []*vibemon.FirmwareImage) error
	// ImportDeviceSettings keeps UpdatedAt and the target firmware.
	ImportDeviceSettings(ctx context.Context, settings []*vibemon.DeviceSettings) error
	ImportOTAStatus(ctx context.Context, sts []*vibemon.OTAStatus) error
	// ImportRollups writes rows into the rollup table (one of
	// RollupTables), replacing what their buckets hold: the copy writes
	// them before the device's readings, whose rollups then add to them.
	ImportRollups(ctx context.Context, table string, rows []*RollupRow) error
}

// RollupTables are the rollup levels both stores keep, finest first.
var RollupTables = []string{"rollup_1m", "rollup_1h", "rollup_1d"}

// RollupWidth is the bucket width of each of RollupTables; buckets start
// at multiples of it since the Unix epoch (UTC).
var RollupWidth = map[string]time.Duration{"rollup_1m": time.Minute, "rollup_1h": time.Hour, "rollup_1d": 24 * time.Hour}

// RollupRow is one bucket of a device's rollup: how many readings it
// counts and, per metric (indexed by vibemon.Metric), how many had a value,
// their sum, min and max (NaN when N is 0).
type RollupRow struct {
	DeviceID    int64
	BucketStart time.Time
	Count       int64
	N           [vibemon.NumMetrics]int64
	Sum         [vibemon.NumMetrics]float64
	Min, Max    [vibemon.NumMetrics]float64
}

// TelegramLink is a user's one-time Telegram /start code, kept as its
// SHA-256 (telegram_links). ChatID is the chat that used it, if any.
type TelegramLink struct {
	CodeHash  string
	OrgID     int64
	UserID    int64
	ExpiresAt time.Time
	ChatID    string
}

// DeviceGap is a run of sequence numbers a gateway reported lost for a
// device (device_gaps), and when the server stored the report.
type DeviceGap struct {
	DeviceID int64
	vibemon.ReportedGap
	CreatedAt time.Time
}

// Tables are the tables a copy carries, in the order it copies them
// (parents before children; readings last because they are the bulk).
// Both stores count these (CountRows) for the check at the end.
//
// Not copied as tables: sessions (refresh tokens: everyone logs in again),
// the notification dispatcher's cursor (the target's starts after the
// copied timeline, see ImportAlertEvents), and rollups: InsertReadings
// rebuilds them from the copied readings, and only what readings pruned by
// retention contributed is copied (ExportPrunedRollups, ImportRollups),
// checked per device by CountRolledUpByDevice.
var Tables = []string{"orgs", "users", "assets", "devices", "api_keys",
	"notification_prefs", "telegram_links", "push_tokens", "webhooks",
	"firmware_images", "device_settings", "device_ota_status", "device_gaps",
	"rules", "maintenance_windows", "alerts", "alert_events", "notification_deliveries",
	"waveforms", "models", "readings"}

// Config configures Run. The zero value means the documented defaults.
type Config struct {
	// StatePath is the JSON file that records progress, so that a run
	// interrupted and started again continues where it stopped. Empty
	// keeps no state: a rerun then skips existing rows but re-reads
	// everything.
	StatePath string
	// TargetName names the target in the state file (a URL without its
	// password), so that progress towards one target is never taken for
	// progress towards another.
	TargetName string
	// Resume allows copying into a target that already holds rows without
	// a state file saying they came from this copy.
	Resume bool
	// Progress receives the progress bar. Defaults to discarding it.
	Progress io.Writer
	// Terminal redraws one progress line in place; otherwise a plain line
	// is written per 10% of the rows.
	Terminal bool
	// PageSize is how many readings one InsertReadings call carries.
	// Defaults to 5000.
	PageSize int
	// Logger receives the tables as they complete. Defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of the progress rate. Defaults to time.Now.
	Now func() time.Time
	// AfterBatch, when set, is called after every stored batch with its
	// table and the rows copied so far (tests interrupt copies here).
	AfterBatch func(table string, copied int64)
}

// Count is one line of the check: a table's (or a device's readings') rows
// in the source and in the target.
type Count struct {
	Name           string
	Source, Target int64
}

// OK reports whether the target has as many rows as the source.
func (c Count) OK() bool { return c.Source == c.Target }

// Report is the outcome of a copy.
type Report struct {
	Tables  []Count // one per table of Tables
	Devices []Count // readings per device, by device id
	Rollups []Count // readings the daily rollups count, per device
	Copied  int64   // rows copied by this run
	Elapsed time.Duration
}

// OK reports whether every count matches.
func (r *Report) OK() bool {
	for _, c := range slices.Concat(r.Tables, r.Devices, r.Rollups) {
		if !c.OK() {
			return false
		}
	}
	return true
}

// WriteTable prints the counts as a table, marking lines that differ.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-24s %12s %12s\n", "table", "source", "target")
	line := func(c Count) {
		mark := "ok"
		if !c.OK() {
			mark = "DIFFERS"
		}
		fmt.Fprintf(w, "%-24s %12d %12d  %s\n", c.Name, c.Source, c.Target, mark)
	}
	for _, c := range r.Tables {
		line(c)
	}
	for _, c := range r.Devices {
		line(c)
	}
	for _, c := range r.Rollups {
		line(c)
	}
}

// Run copies src into dst and checks the counts. It refuses (ECONFLICT) a
// target that holds rows, unless cfg.Resume is set or the state file says
// the rows come from an earlier run of this copy. The report is returned
// with a nil error even when counts differ: check Report.OK.
func Run(ctx context.Context, src Source, dst Target, cfg Config) (*Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	start := cfg.Now()
	st, err := loadState(cfg.StatePath, cfg.TargetName)
	if err != nil {
		return nil, err
	}
	srcRows, err := src.CountRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("count source rows: %w", err)
	}
	dstRows, err := dst.CountRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("count target rows: %w", err)
	}
	if n := sum(dstRows); n > 0 && !st.Started && !cfg.Resume {
		return nil, vibemon.Errorf(vibemon.ECONFLICT,
			"The target is not empty (%d orgs, %d users, %d devices, %d readings) and no earlier copy into it is recorded in %s. "+
				"Copy into an empty database, or pass --resume to continue a copy into this one.",
			dstRows["orgs"], dstRows["users"], dstRows["devices"], dstRows["readings"], cfg.StatePath)
	}
	st.Started = true
	if err := st.save(); err != nil {
		return nil, err
	}

	c := &copier{src: src, dst: dst, cfg: cfg, st: st}
	c.bar = progress.New(cfg.Progress, "migrate", cfg.Terminal, sum(srcRows), cfg.Now)
	if err := c.copyAll(ctx); err != nil {
		c.bar.Stop()
		return nil, err
	}
	c.bar.Finish()
	rep, err := verify(ctx, src, dst)
	if err != nil {
		return nil, err
	}
	rep.Copied, rep.Elapsed = c.bar.Done-c.bar.Initial, cfg.Now().Sub(start)
	return rep, nil
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// verify compares the counts of every table and of every device's readings.
func verify(ctx context.Context, src, dst Counter) (*Report, error) {
	rep := &Report{}
	s, err := src.CountRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("count source rows: %w", err)
	}
	d, err := dst.CountRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("count target rows: %w", err)
	}
	for _, t := range Tables {
		rep.Tables = append(rep.Tables, Count{Name: t, Source: s[t], Target: d[t]})
	}
	sd, err := src.CountReadingsByDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("count source readings: %w", err)
	}
	dd, err := dst.CountReadingsByDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("count target readings: %w", err)
	}
	for _, id := range unionKeys(sd, dd) {
		rep.Devices = append(rep.Devices, Count{Name: fmt.Sprintf("readings of device %d", id), Source: sd[id], Target: dd[id]})
	}
	sr, err := src.CountRolledUpByDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("count source rollups: %w", err)
	}
	dr, err := dst.CountRolledUpByDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("count target rollups: %w", err)
	}
	for _, id := range unionKeys(sr, dr) {
		rep.Rollups = append(rep.Rollups, Count{Name: fmt.Sprintf("rolled up, device %d", id), Source: sr[id], Target: dr[id]})
	}
	return rep, nil
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys(a, b map[int64]int64) []int64 {
	var ids []int64
	for id := range a {
		ids = append(ids, id)
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
