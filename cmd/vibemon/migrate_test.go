package main

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/sqlite"
)

// freshPostgres creates an empty database vibemon_<prefix>_<nanotime> on the
// test server and drops it at cleanup. It skips without
// VIBEMON_TEST_DATABASE_URL, and fails then under VIBEMON_TEST_STRICT=1.
func freshPostgres(t *testing.T, prefix string) string {
	t.Helper()
	base := os.Getenv("VIBEMON_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("VIBEMON_TEST_STRICT") == "1" {
			t.Fatal("VIBEMON_TEST_DATABASE_URL is not set and VIBEMON_TEST_STRICT=1")
		}
		t.Skip("VIBEMON_TEST_DATABASE_URL is not set; skipping the migration into PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("vibemon_%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// migSource is what the test put into the SQLite source.
type migSource struct {
	path      string
	device    *vibemon.Device // org 1's first device
	from, to  time.Time       // covers every reading
	hourly    []vibemon.Point // the device's 1h buckets of vel_rms_x in [from, to)
	readings  int
	alertIDs  []int64
	password  string // alice's
	aliceMail string
	apiKey    string // a gateway key of org 1
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
	src.hourly, err = s.QueryReadings(ctx, 1, vibemon.ReadingQuery{DeviceID: src.device.ID, From: src.from, To: src.to,
		Bucket: vibemon.BucketHour, Metrics: []vibemon.Metric{vibemon.VelRMSX}})
	must(err)
	return src
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

	// First run: cancelled (as by Ctrl+C) once 2,000 readings are stored.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	migrateAfterBatch = func(table string, copied int64) {
		if table == "readings" && copied >= 2000 {
			cancel()
		}
	}
	t.Cleanup(func() { migrateAfterBatch = nil })
	var out, errOut syncBuffer
	err := run(ctx, args, getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("interrupted run: err = %v; want an interruption that says to run again\nstdout:\n%s", err, &out)
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
	for _, want := range []string{"readings of device 1", "every count matches"} {
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
