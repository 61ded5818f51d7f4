package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// TestOpenMigratesBeyondTheConnectDeadline: `vibemon serve` opens the store
// under a 15 s deadline meant for connecting; an upgrade whose migration
// rewrites a large table (0014 copies rollup_1h: about 10 s for 150
// devices' year here) must still complete, not be cancelled at that
// deadline on every start, so that the server never comes up. Here a
// rollup_1h from before 0014 with a year of 40 devices is migrated by an
// Open whose context expires long before the migration ends; an Open whose
// context is cancelled (a shutdown) still stops it.
func TestOpenMigratesBeyondTheConnectDeadline(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, testOptions(schema))
	must(t, err)
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	d := &vibemon.Device{OrgID: o.ID, Serial: "n0"}
	_, err = s.RegisterDevice(ctx, d)
	must(t, err)
	// The schema as it was at version 13: one unpartitioned rollup_1h.
	_, err = s.Pool().Exec(ctx, `DROP TABLE rollup_1h CASCADE; DROP TABLE rollup_reordered;
		CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING DEFAULTS, PRIMARY KEY (device_id, bucket_start));
		DELETE FROM schema_migrations WHERE version = 14`)
	must(t, err)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const hours = 365 * 24
	_, err = s.Pool().Exec(ctx, `INSERT INTO rollup_1h (device_id, bucket_start, count, temp_c_n, temp_c_sum, temp_c_min, temp_c_max)
		SELECT $1::bigint + d, $2::timestamptz + h * interval '1 hour', 2, 2, 2 * h, h, h + 1
		FROM generate_series(0, $3 - 1) h, generate_series(0, 39) d ORDER BY h, d`, d.ID, from, hours)
	must(t, err)
	s.Close()

	// A shutdown (ctx cancelled, not expired) still stops the migration:
	// it rolls back and the next Open applies it.
	cctx, stop := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, stop)
	start := time.Now()
	if s, err := postgres.Open(cctx, url, testOptions(schema)); err == nil {
		s.Close()
		t.Fatalf("Open cancelled 300 ms in = nil after %s, want the migration stopped", time.Since(start).Round(time.Millisecond))
	}
	t.Logf("cancelled Open returned after %s", time.Since(start).Round(time.Millisecond))

	octx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	s, err = postgres.Open(octx, url, testOptions(schema))
	if err != nil {
		t.Fatalf("Open of a store at version 13 with %d hourly rollup rows, under a 300 ms deadline: %v (after %s); want the migration to finish",
			40*hours, err, time.Since(start).Round(time.Millisecond))
	}
	t.Cleanup(func() { s.Close() })
	t.Logf("Open took %s", time.Since(start).Round(time.Millisecond))
	if v, err := s.SchemaVersion(ctx); err != nil || v != postgres.LatestSchemaVersion() {
		t.Errorf("schema version after Open = %d, %v; want %d", v, err, postgres.LatestSchemaVersion())
	}
	pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: from, To: from.Add(hours * time.Hour),
		Bucket: vibemon.BucketHour, Metrics: []vibemon.Metric{vibemon.TempC}})
	must(t, err)
	if len(pts) != hours || pts[hours-1].Max[0] != float64(hours) {
		t.Errorf("device %d: %d hours after the migration, want %d", d.ID, len(pts), hours)
	}
}
