package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/migrate"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
	"github.com/vibemon/vibemon/timescaletest"
)

// freshPostgres creates an empty database vibemon_<prefix>_<nanotime> on the
// test server and drops it at cleanup (pgtest: skips without
// VIBEMON_TEST_DATABASE_URL, fails then under VIBEMON_TEST_STRICT=1).
func freshPostgres(t *testing.T, prefix string) string {
	t.Helper()
	return pgtest.Database(t, pgtest.URL(t), prefix)
}

// migSource is what the test put into the SQLite source.
type migSource struct {
	path       string
	device     *vibemon.Device // org 1's first device
	from, to   time.Time       // covers every reading
	hourly     []vibemon.Point // the device's 1h buckets of vel_rms_x in [from, to)
	readings   int
	alertIDs   []int64
	password   string // alice's
	aliceMail  string
	apiKey     string            // a gateway key of org 1
	tgCode     string            // alice's unused Telegram /start code
	buckets    [][]vibemon.Point // the device's 1m, 1h and 1d buckets of vel_rms_x and temp_c after the prune
	deliveries []string          // keys of notification deliveries
}

// buildSource fills a SQLite store with two orgs, their users, assets,
// devices, rules, alerts in every status, a waveform, a model and 4,500
// readings.
func buildSource(t *testing.T) *migSource {
	t.Helper()
	ctx := context.Background()
	src := &migSource{path: filepath.Join(t.TempDir(), "vibemon.db"), password: "alice's old password", aliceMail: "alice@acme.example"}
	s, err := sqlite.Open(src.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	src.from, src.to = now.Truncate(time.Hour).Add(-4*time.Hour), now.Add(time.Hour)
	var devices []*vibemon.Device
	for i, name := range []string{"Acme", "Globex"} {
		org := &vibemon.Org{Name: name}
		must(s.CreateOrg(ctx, org))
		email, pw := fmt.Sprintf("owner%d@example.com", i), fmt.Sprintf("password of org %d", i)
		if i == 0 {
			email, pw = src.aliceMail, src.password
		}
		hash, err := auth.Hash(pw)
		must(err)
		must(s.CreateUser(ctx, &vibemon.User{OrgID: org.ID, Email: email, Name: name + " owner", Role: vibemon.RoleOwner, PasswordHash: hash}))
		asset := &vibemon.Asset{OrgID: org.ID, Name: name + " pump", Type: "pump", RPM: 2950, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
		must(s.CreateAsset(ctx, asset))
		for j := 0; j < 2-i; j++ {
			d := &vibemon.Device{OrgID: org.ID, AssetID: asset.ID, Serial: fmt.Sprintf("AA:%02d:%02d", i, j), Name: "DE bearing"}
			_, err := s.RegisterDevice(ctx, d)
			must(err)
			devices = append(devices, d)
		}
		rule := &vibemon.Rule{OrgID: org.ID, Name: "velocity", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 4.5, Clear: 4, Severity: vibemon.SeverityWarning, Enabled: true}
		must(rule.Validate())
		must(s.CreateRule(ctx, rule))
		must(s.CreateMaintenance(ctx, &vibemon.MaintenanceWindow{OrgID: org.ID, AssetID: asset.ID,
			From: time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC), Reason: "overhaul"}))
		for _, d := range devices {
			if d.OrgID != org.ID {
				continue
			}
			a := &vibemon.Alert{OrgID: org.ID, RuleID: rule.ID, DeviceID: d.ID, AssetID: asset.ID, Severity: rule.Severity,
				Metric: rule.Metric, Value: 5, Peak: 5, Threshold: 4.5, Message: "too fast", OpenedAt: now, UpdatedAt: now}
			_, err := s.UpsertAlert(ctx, a)
			must(err)
			src.alertIDs = append(src.alertIDs, a.ID)
		}
	}
	// Alerts in every status: open, acknowledged, resolved.
	_, err = s.AckAlert(ctx, 1, src.alertIDs[0], 1, "looking", now)
	must(err)
	_, err = s.ResolveAlert(ctx, 1, src.alertIDs[1], 1, now)
	must(err)
	src.device = devices[0]
	key, hash := vibemon.NewAPIKey()
	must(s.CreateAPIKey(ctx, &vibemon.APIKey{OrgID: 1, Name: "gateway hall 2", Role: vibemon.RoleEngineer, Prefix: key[:8], Hash: hash, CreatedBy: 1}))
	src.apiKey = key

	data := make([]int16, 512)
	for i := range data {
		data[i] = int16(1000 * math.Sin(float64(i)/5))
	}
	w := &vibemon.Waveform{OrgID: 1, DeviceID: src.device.ID, TS: now, SampleRateHz: 1000, Axes: 1, Samples: 512, Scale: 0.001, Data: data}
	must(s.CreateWaveform(ctx, w))
	must(s.SetWaveformAnalysis(ctx, 1, w.ID, vibemon.AnalysisDone, []byte(`{"ok":true}`)))
	must(s.SaveModel(ctx, &vibemon.Model{OrgID: 1, DeviceID: src.device.ID, Kind: "iforest", Data: []byte("model"), Rows: 10, TrainedAt: now}))
	addUserData(t, s, src, devices, now)

	for _, d := range devices {
		rs := make([]vibemon.Reading, 1500)
		for i := range rs {
			rs[i] = vibemon.NewReading(d.ID, int64(i), src.from.Add(time.Duration(i)*7*time.Second))
			rs[i].Values[vibemon.VelRMSX] = 1 + float64(i%100)/50
			rs[i].Values[vibemon.TempC] = 40
		}
		_, err := s.InsertReadings(ctx, d.OrgID, rs)
		must(err)
		src.readings += len(rs)
	}
	// Globex keeps everything: ten readings of its device from ten days
	// ago, older than any partition the target makes by itself.
	old := make([]vibemon.Reading, 10)
	for i := range old {
		old[i] = vibemon.NewReading(devices[len(devices)-1].ID, int64(5000+i), src.from.Add(-10*24*time.Hour+time.Duration(i)*time.Hour))
		old[i].Values[vibemon.TempC] = 20
	}
	_, err = s.InsertReadings(ctx, devices[len(devices)-1].OrgID, old)
	must(err)
	src.readings += len(old)
	src.hourly, err = s.QueryReadings(ctx, 1, vibemon.ReadingQuery{DeviceID: src.device.ID, From: src.from, To: src.to,
		Bucket: vibemon.BucketHour, Metrics: []vibemon.Metric{vibemon.VelRMSX}})
	must(err)

	// Acme keeps raw readings one day; its prune ran when its first 70
	// minutes and 3.5 s were a day old: 601 readings of each of its two
	// devices are gone, in the middle of a minute, and only the rollups
	// remember them.
	acme, err := s.GetOrg(ctx, 1)
	must(err)
	acme.RetentionDays, acme.WaveformRetentionDays = 1, 14
	must(s.UpdateOrg(ctx, acme))
	rep, err := s.PruneReadings(ctx, src.from.Add(24*time.Hour+70*time.Minute+3500*time.Millisecond))
	must(err)
	if rep.RowsDeleted != 2*601 {
		t.Fatalf("pruning the source: %+v; want 1202 readings deleted", rep)
	}
	src.readings -= int(rep.RowsDeleted)
	for _, b := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		pts, err := s.QueryReadings(ctx, 1, vibemon.ReadingQuery{DeviceID: src.device.ID, From: src.from.Add(-24 * time.Hour), To: src.to,
			Bucket: b, Metrics: []vibemon.Metric{vibemon.VelRMSX, vibemon.TempC}, Limit: 10000})
		must(err)
		src.buckets = append(src.buckets, pts)
	}
	return src
}

// addUserData gives the source what users set up besides telemetry:
// notification preferences (alice's saved, Globex's owner linked to a
// Telegram chat), an unused Telegram code, a push token, a webhook, the
// notification ledger, firmware images, device settings that target one,
// OTA progress and gaps a gateway reported.
func addUserData(t *testing.T, s *sqlite.Store, src *migSource, devices []*vibemon.Device, now time.Time) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutNotificationPrefs(ctx, &vibemon.NotificationPrefs{OrgID: 1, UserID: 1, Channels: []string{vibemon.ChannelEmail, vibemon.ChannelPush},
		MinSeverity: vibemon.SeverityCritical, AssetIDs: []int64{1}, QuietStart: "22:00", QuietEnd: "07:00", TimeZone: "Europe/Berlin",
		Digest: true, DigestHour: 6, Email: "night-shift@acme.example"}))
	src.tgCode = "alice-unused-code"
	must(s.CreateTelegramLink(ctx, 1, 1, src.tgCode, now.Add(time.Hour)))
	must(s.CreateTelegramLink(ctx, 2, 2, "globex-code", now.Add(time.Hour)))
	must(s.LinkTelegram(ctx, "globex-code", "424242", now))
	must(s.AddPushToken(ctx, &vibemon.PushToken{OrgID: 1, UserID: 1, Token: "fcm-registration-token-of-alice"}))
	must(s.CreateWebhook(ctx, &vibemon.Webhook{OrgID: 1, Name: "maintenance system", URL: "https://cmms.acme.example/hook",
		Secret: "a webhook secret of 32 characters", MinSeverity: vibemon.SeverityWarning, Enabled: true}))
	for i, status := range []vibemon.DeliveryStatus{vibemon.DeliveryDelivered, vibemon.DeliveryFailed, vibemon.DeliveryBatched} {
		d := &vibemon.Delivery{Key: fmt.Sprintf("event:%d/user:1/email", i+1), OrgID: 1, EventID: int64(i + 1), AlertID: src.alertIDs[0],
			UserID: 1, Channel: vibemon.ChannelEmail}
		// The third is over a limit of 1 per hour: batched for a summary.
		limit := 0
		if status == vibemon.DeliveryBatched {
			limit = 1
		}
		got, err := s.ClaimDelivery(ctx, d, limit, now.Add(-time.Hour))
		must(err)
		if got.Status != vibemon.DeliverySending && got.Status != status {
			t.Fatalf("delivery %d claimed as %s", i, got.Status)
		}
		if status == vibemon.DeliveryFailed {
			must(s.FinishDelivery(ctx, d.Key, status, "550 mailbox unavailable"))
		} else if status == vibemon.DeliveryDelivered {
			must(s.FinishDelivery(ctx, d.Key, status, ""))
		}
		src.deliveries = append(src.deliveries, d.Key)
	}
	var fws []*vibemon.FirmwareImage
	for i, hw := range []string{"esp32c3", "esp32s3"} {
		img := make([]byte, 70_000+i)
		for j := range img {
			img[j] = byte(j*7 + i)
		}
		f := &vibemon.FirmwareImage{OrgID: 1, Version: fmt.Sprintf("1.%d.0", i+2), Hardware: hw, Signature: strings.Repeat("ab", 64), Notes: "bearing model " + hw, Data: img}
		must(s.CreateFirmware(ctx, f))
		fws = append(fws, f)
	}
	must(s.PutDeviceSettings(ctx, 1, &vibemon.DeviceSettings{DeviceID: devices[0].ID, IntervalS: 30, RangeG: 4, SampleRateHz: 400, Window: 1024,
		TargetFirmwareID: fws[1].ID, BurstEveryS: 600, BurstFrames: 2048}))
	must(s.PutDeviceSettings(ctx, 1, &vibemon.DeviceSettings{DeviceID: devices[1].ID, IntervalS: 120}))
	must(s.PutOTAStatus(ctx, 1, &vibemon.OTAStatus{DeviceID: devices[0].ID, FirmwareID: fws[1].ID, Version: "1.3.0",
		State: vibemon.OTAStateFailed, BytesDone: 4096, BytesTotal: 70_001, Error: "node rejected the signature"}))
	_, err := s.ReportGaps(ctx, 1, devices[0].ID, []vibemon.ReportedGap{
		{FromSeq: 1500, ToSeq: 1519, Reason: vibemon.GapQueueFull, At: now.Add(-time.Minute).Truncate(time.Millisecond)},
		{FromSeq: 1530, ToSeq: 1530, Reason: vibemon.GapRejected, At: now.Truncate(time.Millisecond)},
	})
	must(err)
	_, err = s.ReportGaps(ctx, 2, devices[2].ID, []vibemon.ReportedGap{{FromSeq: 1600, ToSeq: 1700, Reason: vibemon.GapNodeRingOverflow, At: now.Truncate(time.Millisecond)}})
	must(err)
}

// sameJSON fails the test when got and want differ once encoded (times
// compared in UTC by their callers).
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s on the target:\n got %s\nwant %s", what, g, w)
	}
}

// checkUserData compares, field by field, what addUserData put into the
// source with what the target store returns.
func checkUserData(t *testing.T, srcPath, target string, tgCode string, deliveries []string) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(srcPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := postgres.Open(ctx, target, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for org := int64(1); org <= 2; org++ {
		so, err := s.GetOrg(ctx, org)
		must(err)
		do, err := d.GetOrg(ctx, org)
		must(err)
		so.CreatedAt, do.CreatedAt = so.CreatedAt.UTC(), do.CreatedAt.UTC()
		sameJSON(t, fmt.Sprintf("org %d (retentions, pruned_before)", org), do, so)
		sp, err := s.ListNotificationPrefs(ctx, org)
		must(err)
		dp, err := d.ListNotificationPrefs(ctx, org)
		must(err)
		for _, p := range append(sp, dp...) {
			p.UpdatedAt = p.UpdatedAt.UTC()
		}
		sameJSON(t, fmt.Sprintf("notification preferences of org %d", org), dp, sp)
		sw, err := s.ListWebhooks(ctx, org)
		must(err)
		dw, err := d.ListWebhooks(ctx, org)
		must(err)
		for _, w := range append(sw, dw...) {
			w.CreatedAt = w.CreatedAt.UTC()
		}
		sameJSON(t, fmt.Sprintf("webhooks of org %d", org), dw, sw)
		sf, err := s.ListFirmware(ctx, org)
		must(err)
		df, err := d.ListFirmware(ctx, org)
		must(err)
		for _, f := range append(sf, df...) {
			f.CreatedAt = f.CreatedAt.UTC()
		}
		sameJSON(t, fmt.Sprintf("firmware images of org %d", org), df, sf)
		for _, f := range sf {
			a, err := s.GetFirmware(ctx, org, f.ID, true)
			must(err)
			b, err := d.GetFirmware(ctx, org, f.ID, true)
			must(err)
			if !bytes.Equal(a.Data, b.Data) {
				t.Errorf("firmware %d: the target's image (%d bytes) differs from the source's (%d bytes)", f.ID, len(b.Data), len(a.Data))
			}
		}
		users, err := s.ListUsers(ctx, org)
		must(err)
		for _, u := range users {
			st, err := s.ListPushTokens(ctx, org, u.ID)
			must(err)
			dt, err := d.ListPushTokens(ctx, org, u.ID)
			must(err)
			for _, p := range append(st, dt...) {
				p.CreatedAt = p.CreatedAt.UTC()
			}
			sameJSON(t, fmt.Sprintf("push tokens of user %d", u.ID), dt, st)
		}
		devs, err := s.ListDevices(ctx, org)
		must(err)
		for _, dev := range devs {
			ss, err := s.GetDeviceSettings(ctx, org, dev.ID)
			must(err)
			ds, err := d.GetDeviceSettings(ctx, org, dev.ID)
			must(err)
			ss.UpdatedAt, ds.UpdatedAt = ss.UpdatedAt.UTC(), ds.UpdatedAt.UTC()
			sameJSON(t, fmt.Sprintf("settings of device %d", dev.ID), ds, ss)
			so, serr := s.GetOTAStatus(ctx, org, dev.ID)
			do, derr := d.GetOTAStatus(ctx, org, dev.ID)
			if vibemon.ErrorCode(serr) != vibemon.ErrorCode(derr) {
				t.Errorf("OTA status of device %d: target error %v, source error %v", dev.ID, derr, serr)
			} else if serr == nil {
				so.UpdatedAt, do.UpdatedAt = so.UpdatedAt.UTC(), do.UpdatedAt.UTC()
				sameJSON(t, fmt.Sprintf("OTA status of device %d", dev.ID), do, so)
			}
		}
	}
	for _, key := range deliveries {
		a, err := s.GetDelivery(ctx, key)
		must(err)
		b, err := d.GetDelivery(ctx, key)
		must(err)
		a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC(), b.CreatedAt.UTC(), b.UpdatedAt.UTC()
		sameJSON(t, "delivery "+key, b, a)
	}
	gaps, err := s.ExportDeviceGaps(ctx)
	must(err)
	rows, err := d.Pool().Query(ctx, "SELECT device_id, from_seq, to_seq, reason, at, created_at FROM device_gaps ORDER BY device_id, from_seq, to_seq, reason")
	must(err)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*migrate.DeviceGap, error) {
		var g migrate.DeviceGap
		err := r.Scan(&g.DeviceID, &g.FromSeq, &g.ToSeq, &g.Reason, &g.At, &g.CreatedAt)
		g.At, g.CreatedAt = g.At.UTC(), g.CreatedAt.UTC()
		return &g, err
	})
	must(err)
	if len(gaps) != 3 {
		t.Fatalf("the source holds %d reported gaps; the test put in 3", len(gaps))
	}
	sameJSON(t, "reported gaps", got, gaps)
	// Alice's Telegram code, created before the move and not used yet,
	// links her chat on the new server.
	must(d.LinkTelegram(ctx, tgCode, "777", time.Now()))
	p, err := d.GetNotificationPrefs(ctx, 1, 1)
	must(err)
	if p.TelegramChatID != "777" || p.Email != "night-shift@acme.example" {
		t.Errorf("alice's preferences after linking on the target: chat %q e-mail %q; want 777 and her saved address", p.TelegramChatID, p.Email)
	}
}

// checkRollups compares the device's minute, hour and day buckets on the
// target with the source's: the rollups of the readings the source pruned
// arrive, the bucket shared by pruned and kept readings included.
func checkRollups(t *testing.T, src *migSource, target string) {
	t.Helper()
	ctx := context.Background()
	d, err := postgres.Open(ctx, target, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, b := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		got, err := d.QueryReadings(ctx, 1, vibemon.ReadingQuery{DeviceID: src.device.ID, From: src.from.Add(-24 * time.Hour), To: src.to,
			Bucket: b, Metrics: []vibemon.Metric{vibemon.VelRMSX, vibemon.TempC}, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		want := src.buckets[i]
		var total int64
		for _, p := range want {
			total += p.Count
		}
		// Hourly and daily rollups outlive retention. The prune took the
		// minute rollups of the whole minutes before its cutoff (70 min
		// 3.5 s after from): the first 70 minutes' readings, 7 s apart.
		wantTotal := int64(1500)
		if b == vibemon.BucketMinute {
			wantTotal -= int64(70 * time.Minute / (7 * time.Second))
		}
		if total != wantTotal {
			t.Fatalf("the source's %s buckets count %d readings, want %d", b, total, wantTotal)
		}
		if len(got) != len(want) {
			t.Errorf("%s buckets: target has %d, source %d", b, len(got), len(want))
			continue
		}
		for j, w := range want {
			g := got[j]
			ok := g.TS.Equal(w.TS) && g.Count == w.Count
			for k := range w.Avg {
				ok = ok && math.Abs(g.Avg[k]-w.Avg[k]) < 1e-9 && g.Min[k] == w.Min[k] && g.Max[k] == w.Max[k]
			}
			if !ok {
				t.Errorf("%s bucket %d: target %s count %d avg %v min %v max %v; source %s count %d avg %v min %v max %v",
					b, j, g.TS, g.Count, g.Avg, g.Min, g.Max, w.TS, w.Count, w.Avg, w.Min, w.Max)
			}
		}
	}
}

// TestMigrateCopiesAnInstallationIntoPostgreSQL interrupts a copy in the
// middle of the readings, runs it again with the same flags, and then
// serves from the target: the old password logs in, the telemetry and the
// alerts are the source's.
func TestMigrateCopiesAnInstallationIntoPostgreSQL(t *testing.T) {
	target := freshPostgres(t, "mig")
	src := buildSource(t)
	args := []string{"migrate", "--from", "sqlite://" + src.path, "--to", target, "--batch", "500"}
	getenv := func(string) string { return "" }

	// First run: cancelled (as by Ctrl+C) after the first page of pruned
	// rollups; second run: cancelled once 2,000 readings are stored.
	t.Cleanup(func() { migrateAfterBatch = nil })
	var out, errOut syncBuffer
	for _, stop := range []struct {
		table string
		after int64
	}{{"rollups", 0}, {"readings", 2000}} {
		ctx, cancel := context.WithCancel(context.Background())
		migrateAfterBatch = func(table string, copied int64) {
			if table == stop.table && copied >= stop.after {
				cancel()
			}
		}
		out, errOut = syncBuffer{}, syncBuffer{}
		err := run(ctx, args, getenv, &out, &errOut)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "run the same command again") {
			t.Fatalf("run interrupted in %s: err = %v; want an interruption that says to run again\nstdout:\n%s", stop.table, err, &out)
		}
	}
	migrateAfterBatch = nil
	db, err := pgx.Connect(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var partial int
	if err := db.QueryRow(context.Background(), "SELECT count(*) FROM readings").Scan(&partial); err != nil {
		t.Fatal(err)
	}
	if partial == 0 || partial >= src.readings {
		t.Fatalf("after the interruption the target holds %d readings; want some but not all %d", partial, src.readings)
	}

	// Second run, same flags: continues and checks the counts.
	out, errOut = syncBuffer{}, syncBuffer{}
	if err := run(context.Background(), args, getenv, &out, &errOut); err != nil {
		t.Fatalf("resumed run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	for _, want := range []string{"readings of device 1", "rolled up, device 1", "every count matches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, &out)
		}
	}
	if strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("a count differs:\n%s", &out)
	}
	if !strings.Contains(errOut.String(), "100%") {
		t.Errorf("stderr shows no progress to 100%%:\n%s", &errOut)
	}
	var n, keys int
	if err := db.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM readings), (SELECT count(DISTINCT (device_id, seq)) FROM readings)").Scan(&n, &keys); err != nil {
		t.Fatal(err)
	}
	if n != src.readings || keys != src.readings {
		t.Fatalf("target holds %d readings with %d distinct (device, seq); want %d of each (no duplicates)", n, keys, src.readings)
	}
	// The history went into partitions of its days made first, not into the
	// default partition (where it could not be pruned by the day).
	var inDefault int
	if err := db.QueryRow(context.Background(), "SELECT count(*) FROM readings_default").Scan(&inDefault); err != nil {
		t.Fatal(err)
	}
	if inDefault != 0 {
		t.Errorf("%d copied readings are in readings_default, want 0 (partitions of their days made first)", inDefault)
	}

	for _, table := range []string{"notification_prefs", "telegram_links", "push_tokens", "webhooks", "notification_deliveries",
		"firmware_images", "device_settings", "device_ota_status", "device_gaps"} {
		if !regexp.MustCompile(`(?m)^` + table + ` +[1-9]\d* +[1-9]\d* +ok$`).MatchString(out.String()) {
			t.Errorf("the report has no matching non-zero line for %s:\n%s", table, &out)
		}
	}
	checkUserData(t, src.path, target, src.tgCode, src.deliveries)
	checkRollups(t, src, target)

	// Without the state file the target looks foreign: refused.
	if err := os.Remove(src.path + ".migrate.json"); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args, getenv, &syncBuffer{}, &syncBuffer{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("copy into a non-empty target without --resume: err = %v; want a refusal naming it not empty", err)
	}

	// Serve from the target.
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_DATABASE_URL": target}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, src.aliceMail, src.password)
	var series struct {
		Items []struct {
			TS    time.Time
			Count int64
			Avg   map[string]*float64
		}
	}
	path := fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=1h&from=%s&to=%s&metrics=vel_rms_x", src.device.ID,
		src.from.Format(time.RFC3339), src.to.Format(time.RFC3339))
	if st := c.do("GET", path, nil, &series); st != 200 {
		t.Fatalf("telemetry: status %d", st)
	}
	if got, want := len(series.Items), len(src.hourly); got != want || want == 0 {
		t.Fatalf("target has %d hourly buckets, source %d", got, want)
	}
	for i, it := range series.Items {
		w := src.hourly[i]
		avg := it.Avg["vel_rms_x"]
		if !it.TS.Equal(w.TS) || it.Count != w.Count || avg == nil || math.Abs(*avg-w.Avg[0]) > 1e-9 {
			t.Errorf("bucket %d: got %s count %d avg %v; want %s count %d avg %g", i, it.TS, it.Count, avg, w.TS, w.Count, w.Avg[0])
		}
	}
	var alerts struct {
		Items []struct {
			ID         int64
			Status     string
			AckComment string `json:"ack_comment"`
		}
	}
	if st := c.do("GET", "/api/v1/alerts?limit=100", nil, &alerts); st != 200 {
		t.Fatalf("alerts: status %d", st)
	}
	got := map[int64]string{}
	for _, a := range alerts.Items {
		got[a.ID] = a.Status
	}
	want := map[int64]string{src.alertIDs[0]: "acknowledged", src.alertIDs[1]: "resolved"}
	if len(got) != 2 || got[src.alertIDs[0]] != want[src.alertIDs[0]] || got[src.alertIDs[1]] != want[src.alertIDs[1]] {
		t.Errorf("org 1's alerts on the target: %v; want %v", got, want)
	}
	// The gateway's key works against the target as it did before.
	gw := &client{t: t, base: c.base, token: src.apiKey}
	var devs struct{ Items []struct{ ID int64 } }
	if st := gw.do("GET", "/api/v1/devices", nil, &devs); st != 200 || len(devs.Items) != 2 {
		t.Errorf("a gateway's API key after the copy: status %d, %d devices; want 200 and org 1's 2", st, len(devs.Items))
	}
	// The dispatcher starts after the copied timeline: nobody is notified
	// of old alerts on the new server.
	conn, err := pgx.Connect(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var cursor, last int64
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT position FROM notify_cursors WHERE name = 'alert_events'),
		(SELECT max(id) FROM alert_events)`).Scan(&cursor, &last); err != nil {
		t.Fatal(err)
	}
	if cursor != last || last == 0 {
		t.Errorf("notification cursor on the target at %d, want the last copied event %d", cursor, last)
	}
	// New rows get fresh ids past the copied ones.
	var dev struct{ ID int64 }
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "NEW:01", "name": "new"}, &dev); st != 201 || dev.ID <= 3 {
		t.Errorf("register a device after the copy: status %d id %d; want 201 and an id above the copied 3", st, dev.ID)
	}
}

// TestMigrateRefusesWhatIsNotASQLiteStore names the flag that is wrong.
func TestMigrateRefusesWhatIsNotASQLiteStore(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"migrate", "--to", "postgres://x@127.0.0.1:1/x"}, "--from"},
		{"missing file", []string{"migrate", "--from", "sqlite://" + filepath.Join(dir, "none.db"), "--to", "postgres://x@127.0.0.1:1/x"}, "no SQLite store"},
		{"target not postgres", []string{"migrate", "--from", "sqlite://" + dir, "--to", "mysql://x"}, "--to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want one naming %q", err, tc.want)
			}
		})
	}
}

// TestMigrateIntoTimescaleDB copies the same installation into a database
// with TimescaleDB (the PGlite build): the target's readings are a
// hypertable from the start with its stats in continuous aggregates, every
// count matches, and every minute, hour and day bucket, pruned history
// included, is the source's.
func TestMigrateIntoTimescaleDB(t *testing.T) {
	target := timescaletest.URL(t)
	src := buildSource(t)
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"migrate", "--from", "sqlite://" + src.path, "--to", target}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	// The aggregates are materialized once, after the copy (the buckets
	// compared below are then read from them, not from the readings).
	if !strings.Contains(out.String(), "every count matches") || !strings.Contains(out.String(), "Materialized in ") {
		t.Fatalf("stdout:\n%s", &out)
	}
	s, err := postgres.Open(context.Background(), target, postgres.Options{MaintenanceInterval: -1, MergeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	hyper, caggs := s.Hypertable(), s.ContinuousAggregates()
	s.Close()
	if !hyper || !caggs {
		t.Fatalf("the target's readings: hypertable %v, stats in continuous aggregates %v; want both (the default)", hyper, caggs)
	}
	checkRollups(t, src, target)
}
