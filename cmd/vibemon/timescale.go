package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/progress"
)

const timescaleUsage = `Usage: vibemon timescale COMMAND [--database-url URL]

Commands:
  status    how readings are stored: native daily partitions or a TimescaleDB
            hypertable (chunks, compressed chunks and what compression saves),
            and the TimescaleDB licence
  convert   move the readings of an installation that started on plain
            PostgreSQL into a TimescaleDB hypertable, with a progress bar.
            Offline: stop every vibemon serve on the database first. Interrupted,
            run it again: it continues where it stopped.

A new database gets a hypertable by itself where TimescaleDB is available;
convert is for the readings stored before it was. See docs/postgres.md.
`

// runTimescale shows or converts the readings layout of a PostgreSQL store.
func runTimescale(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, timescaleUsage)
		return nil
	}
	cmd := args[0]
	if cmd != "status" && cmd != "convert" {
		return fmt.Errorf("unknown timescale command %q: want status or convert (see: vibemon timescale --help)", cmd)
	}
	summary := map[string]string{
		"status":  "Show how readings are stored: native daily partitions or a TimescaleDB hypertable\n(chunks, compressed chunks and what compression saves), and the TimescaleDB licence.",
		"convert": "Move the readings of an installation that started on plain PostgreSQL into a TimescaleDB\nhypertable, with a progress bar. Offline: stop every vibemon serve on the database first.\nInterrupted, run it again: it continues where it stopped. See docs/postgres.md.",
	}[cmd]
	fs := newFlagSet("timescale "+cmd, summary, stdout)
	dbURL := fs.String("database-url", getenv("VIBEMON_DATABASE_URL"), "the PostgreSQL database (VIBEMON_DATABASE_URL)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	name, ok := postgresURL(*dbURL)
	if !ok {
		return fmt.Errorf("timescale %s: --database-url (VIBEMON_DATABASE_URL) must be the postgres:// URL of the server's database, not %q", cmd, *dbURL)
	}
	after, err := compressAfter(getenv)
	if err != nil {
		return err
	}
	// A new database opened here first is set up as the servers would.
	caggs, err := continuousAggregates(getenv)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	// No upkeep of its own: the command only reads or converts.
	s, err := postgres.Open(pctx, *dbURL, postgres.Options{Logger: slog.New(slog.DiscardHandler),
		MaintenanceInterval: -1, MergeInterval: -1, MaxBatch: -1, CompressAfter: after, ContinuousAggregates: caggs})
	cancel()
	if err != nil {
		return fmt.Errorf("timescale %s: open %s: %w", cmd, name, err)
	}
	defer s.Close()

	if cmd == "status" {
		return timescaleStatus(ctx, s, stdout)
	}
	fmt.Fprintf(stdout, "Converting the readings of %s into a TimescaleDB hypertable.\nCounting the readings to copy (a scan of each partition)...\n", name)
	var bar *progress.Bar
	conv, err := s.ConvertToHypertable(ctx, postgres.ConvertProgress{
		Start: func(total, done int64) {
			bar = progress.New(stderr, "convert", isTerminal(stderr), total, nil)
			bar.Initial, bar.Done = done, done
			if done > 0 {
				fmt.Fprintf(stdout, "Continuing an interrupted conversion: %d of %d readings were copied before.\n", done, total)
			}
		},
		Add: func(n int64) { bar.Add(n) },
	})
	if err != nil {
		if bar != nil {
			bar.Stop()
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return fmt.Errorf("conversion interrupted; readings are unchanged: run the same command again to continue: %w", err)
		}
		return fmt.Errorf("timescale convert: %w", err)
	}
	if conv.Already {
		fmt.Fprintln(stdout, "Readings are a TimescaleDB hypertable already; nothing to do.")
		return nil
	}
	bar.Finish()
	fmt.Fprintf(stdout, "Done: %d readings in a hypertable (%d partitions copied in this run", conv.Rows, conv.Partitions)
	if conv.Repaired > 0 {
		fmt.Fprintf(stdout, ", %d days copied again because readings changed there since an earlier run", conv.Repaired)
	}
	fmt.Fprintln(stdout, "). Every day's readings were checked against the old table.")
	if after == 0 {
		after = postgres.DefaultCompressAfter
	}
	fmt.Fprintf(stdout, "TimescaleDB's compression policy compresses the chunks older than %.0f days in the background (VIBEMON_TIMESCALEDB_COMPRESS_DAYS). Start the servers again.\n", after.Hours()/24)
	return timescaleStatus(ctx, s, stdout)
}

func timescaleStatus(ctx context.Context, s *postgres.Store, stdout io.Writer) error {
	switch {
	case !s.TimescaleAvailable():
		fmt.Fprintln(stdout, "TimescaleDB: not available on this server.")
	case s.TimescaleLicense() == "":
		fmt.Fprintln(stdout, "TimescaleDB: available, not installed in this database (CREATE EXTENSION timescaledb as a superuser).")
	default:
		fmt.Fprintf(stdout, "TimescaleDB: installed, licence %s.\n", s.TimescaleLicense())
	}
	if s.Hypertable() {
		st, err := s.CompressionStats(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Readings: a TimescaleDB hypertable, %d chunks of a day (%d compressed", st.Chunks, st.Compressed)
		if st.After > 0 {
			fmt.Fprintf(stdout, ": %s before compression, %s after, ", bytesIEC(st.Before), bytesIEC(st.After))
			if r := float64(st.Before) / float64(st.After); r >= 1 {
				fmt.Fprintf(stdout, "%.1fx smaller", r)
			} else {
				fmt.Fprintf(stdout, "%.1fx larger: too few readings per chunk to gain", 1/r)
			}
		}
		fmt.Fprintln(stdout, ").")
		if s.ContinuousAggregates() {
			fmt.Fprintln(stdout, "Stats: TimescaleDB continuous aggregates, one set per organization (views stats_1m, hourly_stats, daily_stats).")
		} else {
			fmt.Fprintln(stdout, "Stats: the store's own rollup tables (this database was created with them, or converted).")
		}
		return nil
	}
	parts, err := s.Partitions(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Readings: native daily partitions (%d).\n", len(parts))
	if s.TimescaleLicense() == "timescale" {
		fmt.Fprintln(stdout, "Run `vibemon timescale convert`, with every vibemon serve stopped, to move them into a hypertable.")
	}
	return nil
}

// bytesIEC formats n bytes as people read sizes (KiB, MiB, GiB).
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
