package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vibemon/vibemon/migrate"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
)

// migrateAfterBatch, when set (by tests), is called after every batch the
// copy stores.
var migrateAfterBatch func(table string, copied int64)

// runMigrate copies an embedded SQLite installation into PostgreSQL.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Copy an embedded SQLite installation into PostgreSQL: orgs, users (with their passwords),\n"+
		"assets, devices, API keys, notification settings, webhooks, firmware images, device settings, OTA status,\n"+
		"reported gaps, rules, alerts, waveforms, models, raw readings and the rollups of pruned ones, keeping ids.\n"+
		"Stop the server first. Interrupted, run it again with the same flags: it continues where it stopped.\n"+
		"It ends by comparing row counts per table and per device and fails when any differs.", stdout)
	from := fs.String("from", "", "the source: sqlite://PATH to vibemon.db (or to its data dir)")
	to := fs.String("to", getenv("VIBEMON_DATABASE_URL"), "the target: a postgres:// URL of an empty database (VIBEMON_DATABASE_URL)")
	batch := fs.Int("batch", 5000, "readings per insert into the target")
	resume := fs.Bool("resume", false, "copy into a target that is not empty (continue a copy whose state file is lost)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path, ok := strings.CutPrefix(*from, "sqlite://")
	if !ok || path == "" {
		return fmt.Errorf("--from must be sqlite://PATH, the embedded store (e.g. sqlite://./data/vibemon.db), not %q", *from)
	}
	target, ok := postgresURL(*to)
	if !ok {
		return fmt.Errorf("--to must be a postgres:// URL, not %q", *to)
	}
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from: no SQLite store at %s: %w", path, err)
	} else if fi.IsDir() {
		path = filepath.Join(path, "vibemon.db")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("--from: no vibemon.db in the directory: %w", err)
		}
	}
	caggs, err := continuousAggregates(getenv)
	if err != nil {
		return err
	}
	src, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open the source %s: %w", path, err)
	}
	defer src.Close()
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	dst, err := postgres.Open(pctx, *to, postgres.Options{ContinuousAggregates: caggs, BulkLoad: true})
	cancel()
	if err != nil {
		return fmt.Errorf("open the target %s: %w", target, err)
	}
	defer dst.Close()

	statePath := path + ".migrate.json"
	fmt.Fprintf(stdout, "Copying %s into %s (progress kept in %s).\n", path, target, statePath)
	rep, err := migrate.Run(ctx, src, dst, migrate.Config{
		StatePath:  statePath,
		TargetName: target,
		Resume:     *resume,
		Progress:   stderr,
		Terminal:   isTerminal(stderr),
		PageSize:   *batch,
		AfterBatch: migrateAfterBatch,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("migrate interrupted; run the same command again to continue: %w", err)
		}
		return fmt.Errorf("migrate: %w", err)
	}
	rep.WriteTable(stdout)
	if !rep.OK() {
		return errors.New("migrate: the target's counts differ from the source's (see the table); run again to continue, or investigate the lines marked DIFFERS")
	}
	fmt.Fprintf(stdout, "Copied %d rows in %s; every count matches.\n", rep.Copied, rep.Elapsed.Round(time.Millisecond))
	if dst.ContinuousAggregates() {
		// Materialized once, now, rather than for every batch of the copy
		// (postgres.Options.BulkLoad).
		fmt.Fprintln(stdout, "Materializing the minute, hourly and daily stats (TimescaleDB continuous aggregates)...")
		start := time.Now()
		if _, err := dst.MergeRollups(ctx); err != nil {
			return fmt.Errorf("migrate: the copy is complete and verified, but materializing the stats failed (the servers' merge does it when they start): %w", err)
		}
		fmt.Fprintf(stdout, "Materialized in %s.\n", time.Since(start).Round(time.Millisecond))
	}
	fmt.Fprintln(stdout, "Start vibemon with VIBEMON_DATABASE_URL set to the target.")
	return nil
}

// postgresURL reports whether raw is a postgres:// (or postgresql://) URL
// and returns it with its password hidden, for messages.
func postgresURL(raw string) (redacted string, ok bool) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return raw, false
	}
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted(), true
	}
	return raw, true
}
