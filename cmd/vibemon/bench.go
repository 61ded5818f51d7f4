package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bench"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
)

const benchUsage = `Usage: vibemon bench ingest [flags]

Measures, side by side in one run, readings/s through the HTTP API (durable
acknowledgement, concurrent clients, loopback) and a direct batched insert of
the same rows into the same store schema, and prints both and their ratio.

With --database-url postgres://... it measures a server on PostgreSQL
instead: the HTTP API (idempotent ingest, with rollups) against a raw
pgx.CopyFrom of the same rows into a table of the readings' layout (daily
partitions, the same index), in a scratch database that is dropped
afterwards. Its readings are live (stamped from now on, a second apart per
device: the merge rolls them up from the table) unless --late stamps them
in the past like a gateway's backlog (rolled up through deltas). Each
client posts the readings of its own share of the devices, as a gateway
does, unless --shared-devices puts every device in every batch.
`

func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "latency" {
		return runBenchLatency(ctx, args[1:], stdout, stderr)
	}
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
	shared := fs.Bool("shared-devices", false, "PostgreSQL: every batch holds readings of every device and the clients share one queue of batches (the worst case: concurrent transactions wait for each other's device rows), instead of each client posting only its own devices, as a gateway does")
	late := fs.Bool("late", false, "PostgreSQL: stamp the readings minutes in the past, as a gateway's backlog (rolled up through deltas), instead of from now on (live readings)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *readings < 1000 || *batch < 1 || *batch > 5000 || *clients < 1 || *clients > 256 || *devices < 1 {
		return fmt.Errorf("bench ingest: need --readings >= 1000, --batch 1..5000, --clients 1..256, --devices >= 1")
	}
	if *dbURL != "" {
		return benchPostgres(ctx, *dbURL, *readings, *batch, *clients, *devices, *late, *shared, *cpuProfile, stdout, stderr)
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

// benchPostgres measures, in one run against one fresh database, readings/s
// through the HTTP API of a whole server on PostgreSQL (durable
// acknowledgement: a 2xx means committed) and a raw pgx.CopyFrom of the same
// rows into a table of the same layout (readings' columns, daily range
// partitions, the (device_id, ts, seq) index), and prints both and their
// ratio. The database is dropped at the end.
func benchPostgres(ctx context.Context, dbURL string, readings, batch, clients, devices int, late, shared bool, cpuProfile string, stdout, stderr io.Writer) error {
	if !shared && devices < clients {
		return fmt.Errorf("bench ingest: %d clients need at least as many --devices (each client sends its own), or --shared-devices", clients)
	}
	// Readings of a device are a second apart. Live ones run from now on
	// (at or after the rollup watermark: rolled up from the table), and
	// the ingest service refuses readings more than an hour ahead.
	perDevice := (readings + devices - 1) / devices
	if !late && perDevice > 3000 {
		return fmt.Errorf("bench ingest: %d readings per device would reach more than 50 minutes ahead; use more --devices, or --late", perDevice)
	}
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("bench ingest: connect to %s: %w", dbURL, err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("vibemon_bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("bench ingest: create a scratch database: %w", err)
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("bench ingest: --database-url: %w", err)
	}
	u.Path = "/" + name
	dir, err := os.MkdirTemp("", "vibemon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &settings{Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: u.String(), Roles: allRoles, LogLevel: slog.LevelWarn, LogFormat: "text",
		AdminEmail: "bench@vibemon.local", AdminPassword: "bench-password"}
	a, err := startApp(ctx, s, io.Discard, stderr)
	if err != nil {
		return err
	}
	defer a.wait()
	defer cancel()
	store, ok := a.store.(*postgres.Store)
	if !ok {
		return fmt.Errorf("bench ingest: the server did not open PostgreSQL")
	}
	ids, err := registerDevices(ctx, store, a.admin.User.OrgID, devices)
	if err != nil {
		return err
	}
	tok, _, err := a.issuer.Issue(a.admin.User)
	if err != nil {
		return err
	}
	kind, last := "live", time.Now().Add(time.Duration(perDevice)*time.Second)
	if late {
		kind, last = "late (a backlog)", time.Now().Add(-5*time.Minute)
	}
	spread := "each client with its own devices"
	if shared {
		spread = "every batch and client with all of them"
	}
	fmt.Fprintf(stdout, "bench ingest (postgres): %d %s readings, batches of %d, %d clients, %d devices (%s), 18 metrics per reading; load %s\n",
		readings, kind, batch, clients, devices, spread, loadAvg())
	// Shared: every batch holds readings of every device, and the clients
	// take the next batch of one queue. Otherwise each client is a gateway
	// with its own devices (a node talks to one gateway).
	var rows [][]vibemon.Reading
	var perGroup [][][]vibemon.Reading
	var bodies [][][]byte
	var sizes [][]int
	groups := [][]int64{ids}
	if !shared {
		groups = make([][]int64, clients)
		for i, id := range ids {
			groups[i%clients] = append(groups[i%clients], id)
		}
	}
	for g, group := range groups {
		n := readings / len(groups)
		if g < readings%len(groups) {
			n++
		}
		bs := bench.Batches(bench.Rows(group, n, 0, last, uint64(g+1)), batch)
		perGroup = append(perGroup, bs)
		bodies, sizes = append(bodies, nil), append(sizes, nil)
		for _, b := range bs {
			bodies[g], sizes[g] = append(bodies[g], bench.EncodeBatch(b)), append(sizes[g], len(b))
		}
	}
	// The raw COPY takes the same batches, the groups' in turn.
	for i, more := 0, true; more; i++ {
		more = false
		for _, bs := range perGroup {
			if i < len(bs) {
				rows, more = append(rows, bs[i]), true
			}
		}
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuNow(ctx, store)
	var h bench.Result
	if shared {
		h, err = bench.HTTPIngest(ctx, "http://"+a.ln.Addr().String(), tok.AccessToken, bodies[0], sizes[0], clients)
	} else {
		h, err = bench.HTTPIngestPerClient(ctx, "http://"+a.ln.Addr().String(), tok.AccessToken, bodies, sizes)
	}
	if err != nil {
		return fmt.Errorf("HTTP ingest: %w", err)
	}
	cpu1 := cpuNow(ctx, store)
	fmt.Fprintln(stdout, h)
	fmt.Fprintln(stdout, cpu1.sub(cpu0).per(h.Readings))
	// The rollups are merged off the ingest path (docs/postgres.md,
	// "Rollups"): what the merge left to do when the API run ended is
	// measured too, so that deferred work does not pass for speed.
	t0 := time.Now()
	deltas, marked, err := store.MergeRollupsBefore(ctx, last.Add(time.Second))
	if err != nil {
		return err
	}
	for n := int64(1); n > 0; time.Sleep(10 * time.Millisecond) { // a run of the job may still be finishing
		if n, err = store.PendingRollupDeltas(ctx); err != nil {
			return err
		}
	}
	merge := time.Since(t0)
	cpuM := cpuNow(ctx, store)
	fmt.Fprintf(stdout, "rollup merge of what the API run left (%d deltas, %d readings from the table): %.3fs\n", deltas, marked, merge.Seconds())
	fmt.Fprintln(stdout, cpuM.sub(cpu1).per(h.Readings))
	n, elapsed, err := store.CopyBaseline(ctx, rows, clients)
	if err != nil {
		return err
	}
	cpu2 := cpuNow(ctx, store)
	c := bench.Result{Name: fmt.Sprintf("raw COPY, same layout (%d callers)", clients), Readings: n, Elapsed: elapsed}
	fmt.Fprintln(stdout, c)
	fmt.Fprintln(stdout, cpu2.sub(cpuM).per(n))
	st := store.IngestStats()
	if st.Transactions > 0 {
		fmt.Fprintf(stdout, "ingest transactions: %d (%.1f calls each, %d overlapping another, %d on the fast path, %d retried)\n",
			st.Transactions, float64(st.Calls)/float64(st.Transactions), st.Overlapped, st.Fast, st.Retries)
	}
	withMerge := float64(h.Readings) / (h.Elapsed + merge).Seconds()
	fmt.Fprintf(stdout, "ratio API/raw COPY: %.2f (%.2f counting the rest of the merge); load %s\n",
		h.PerSecond()/c.PerSecond(), withMerge/c.PerSecond(), loadAvg())
	return nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuTimes is CPU time used so far by this process and by the database's
// server processes connected to the bench database. On a machine shared
// with other work, CPU per reading varies much less than readings/s.
type cpuTimes struct {
	self, db time.Duration
	dbOK     bool
}

// cpuNow reads this process's rusage and, when PostgreSQL runs on this
// machine, the /proc CPU times of the backends of the store's database.
// Backends that disconnect in between are not counted (the pool keeps its
// connections for the run).
func cpuNow(ctx context.Context, store *postgres.Store) cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	rows, err := store.Pool().Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return t
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return t
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state is 3,
		// utime 14 and stime 15, in clock ticks (100 per second on Linux).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			t.db += time.Duration(u+st) * 10 * time.Millisecond
			t.dbOK = true
		}
	}
	return t
}

func (t cpuTimes) sub(u cpuTimes) cpuTimes {
	return cpuTimes{self: t.self - u.self, db: t.db - u.db, dbOK: t.dbOK && u.dbOK}
}

// per formats the CPU of a run of n readings.
func (t cpuTimes) per(n int) string {
	db := "database CPU n/a (not on this machine)"
	if t.dbOK {
		db = fmt.Sprintf("database %.2fs = %.1f µs/reading", t.db.Seconds(), float64(t.db.Microseconds())/float64(n))
	}
	return fmt.Sprintf("  CPU: this process %.2fs = %.1f µs/reading; %s", t.self.Seconds(), float64(t.self.Microseconds())/float64(n), db)
}
