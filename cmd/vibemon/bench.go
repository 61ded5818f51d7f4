package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bench"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
)

const benchUsage = `Usage: vibemon bench ingest [flags]

Measures, side by side in one run, readings/s through the HTTP API (durable
acknowledgement, concurrent clients, loopback) and a direct batched insert of
the same rows into the same store schema, and prints both and their ratio.

With --database-url postgres://... it measures the PostgreSQL store instead:
InsertReadings (idempotent, with rollups) against a raw COPY of the same rows
into a plain table, in a scratch schema that is dropped afterwards.
`

func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "ingest" {
		fmt.Fprint(stdout, benchUsage)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			return nil
		}
		return fmt.Errorf("unknown benchmark %q", args[0])
	}
	fs := newFlagSet("bench ingest", "Measure ingest through the API against a direct insert.", stdout)
	readings := fs.Int("readings", 200000, "readings per measured run")
	batch := fs.Int("batch", 1000, "readings per batch")
	clients := fs.Int("clients", 4, "concurrent clients")
	devices := fs.Int("devices", 100, "devices the readings are spread over")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of both runs to this file")
	dbURL := fs.String("database-url", "", "measure the PostgreSQL store at this postgres:// URL instead of SQLite")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *readings < 1000 || *batch < 1 || *batch > 5000 || *clients < 1 || *clients > 256 || *devices < 1 {
		return fmt.Errorf("bench ingest: need --readings >= 1000, --batch 1..5000, --clients 1..256, --devices >= 1")
	}
	if *dbURL != "" {
		return benchPostgres(ctx, *dbURL, *readings, *batch, *clients, *devices, stdout)
	}
	dir, err := os.MkdirTemp("", "vibemon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The API: a whole server on loopback.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &settings{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "api"), Roles: allRoles, LogLevel: slog.LevelWarn, LogFormat: "text",
		AdminEmail: "bench@vibemon.local", AdminPassword: "bench-password"}
	a, err := startApp(ctx, s, io.Discard, stderr)
	if err != nil {
		return err
	}
	apiIDs, err := registerDevices(ctx, a.store, a.admin.User.OrgID, *devices)
	if err != nil {
		return err
	}
	tok, _, err := a.issuer.Issue(a.admin.User)
	if err != nil {
		return err
	}

	// The baseline: the same schema, no HTTP.
	direct, err := sqlite.Open(filepath.Join(dir, "direct.db"), sqlite.Options{})
	if err != nil {
		return err
	}
	defer direct.Close()
	org := &vibemon.Org{Name: "bench"}
	if err := direct.CreateOrg(ctx, org); err != nil {
		return err
	}
	directIDs, err := registerDevices(ctx, direct, org.ID, *devices)
	if err != nil {
		return err
	}

	now := time.Now()
	fmt.Fprintf(stdout, "bench ingest: %d readings, batches of %d, %d clients, %d devices, 18 metrics per reading\n", *readings, *batch, *clients, *devices)
	directRows := bench.Batches(bench.Rows(directIDs, *readings, 0, now, 1), *batch)
	apiBatches := bench.Batches(bench.Rows(apiIDs, *readings, 0, now, 1), *batch)
	bodies := make([][]byte, len(apiBatches))
	sizes := make([]int, len(apiBatches))
	for i, b := range apiBatches {
		bodies[i], sizes[i] = bench.EncodeBatch(b), len(b)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	d, err := bench.DirectIngest(ctx, direct, org.ID, directRows, *clients)
	if err != nil {
		return fmt.Errorf("direct ingest: %w", err)
	}
	fmt.Fprintln(stdout, d)
	h, err := bench.HTTPIngest(ctx, "http://"+a.ln.Addr().String(), tok.AccessToken, bodies, sizes, *clients)
	if err != nil {
		return fmt.Errorf("HTTP ingest: %w", err)
	}
	fmt.Fprintln(stdout, h)
	fmt.Fprintf(stdout, "ratio API/direct: %.2f\n", h.PerSecond()/d.PerSecond())
	cancel()
	a.wait()
	return nil
}

func registerDevices(ctx context.Context, store vibemon.DeviceStore, orgID int64, n int) ([]int64, error) {
	ids := make([]int64, n)
	for i := range ids {
		d := &vibemon.Device{OrgID: orgID, Serial: fmt.Sprintf("BENCH-%05d", i)}
		if _, err := store.RegisterDevice(ctx, d); err != nil {
			return nil, fmt.Errorf("register device: %w", err)
		}
		ids[i] = d.ID
	}
	return ids, nil
}

// benchPostgres compares InsertReadings of the PostgreSQL store with a raw
// COPY of the same rows, in a scratch schema dropped at the end.
func benchPostgres(ctx context.Context, url string, readings, batch, clients, devices int, stdout io.Writer) error {
	schema := fmt.Sprintf("vibemon_bench_%d", time.Now().UnixNano())
	store, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, MaxConns: int32(clients + 2), MaintenanceInterval: -1})
	if err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	defer store.Close()
	defer store.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	org := &vibemon.Org{Name: "bench"}
	if err := store.CreateOrg(ctx, org); err != nil {
		return err
	}
	ids, err := registerDevices(ctx, store, org.ID, devices)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench ingest (postgres): %d readings, batches of %d, %d clients, %d devices, 18 metrics per reading\n", readings, batch, clients, devices)
	rows := bench.Batches(bench.Rows(ids, readings, 0, time.Now(), 1), batch)
	d, err := bench.DirectIngest(ctx, store, org.ID, rows, clients)
	if err != nil {
		return fmt.Errorf("postgres ingest: %w", err)
	}
	fmt.Fprintln(stdout, d)
	n, elapsed, err := store.CopyBaseline(ctx, rows, clients)
	if err != nil {
		return err
	}
	c := bench.Result{Name: fmt.Sprintf("raw COPY, plain table (%d callers)", clients), Readings: n, Elapsed: elapsed}
	fmt.Fprintln(stdout, c)
	fmt.Fprintf(stdout, "ratio InsertReadings/raw COPY: %.2f\n", d.PerSecond()/c.PerSecond())
	return nil
}
