package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures a Store. The zero value means the documented defaults.
type Options struct {
	// Logger receives migrations, partition maintenance and failed writes.
	// Defaults to a logger that discards.
	Logger *slog.Logger
	// Now is the clock used for created/updated times and partition
	// maintenance. Defaults to time.Now.
	Now func() time.Time
	// Schema, when set, is created if missing and becomes the connections'
	// search_path, so that several stores (tests, tenants of a shared
	// server) can live in one database. Defaults to the URL's search_path.
	Schema string
	// MaxConns is the size of the connection pool. Defaults to pgxpool's
	// default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// PartitionsAhead is how many daily partitions of readings are kept
	// created after today. Defaults to 7.
	PartitionsAhead int
	// PartitionsBehind is how many daily partitions before today are
	// created at Open, for gateways that sync late. Defaults to 2.
	PartitionsBehind int
	// MaxBatch is the most readings that concurrent InsertReadings calls
	// share one transaction with. Defaults to 5000; negative disables
	// coalescing (each call runs its own transaction on the caller's
	// goroutine).
	MaxBatch int
	// IngestWorkers is how many coalesced ingest transactions may run at
	// once. Defaults to 2. Only transactions of at least 1,000 readings
	// (or MaxBatch/2, if smaller) overlap; smaller ones run alone (see
	// ingestWorker), so a second worker helps bulk uploads and leaves small
	// batches coalesced as with one (measurements in docs/benchmarks.md).
	IngestWorkers int
	// MaintenanceInterval is how often the store calls EnsurePartitions
	// by itself. Defaults to 1h; negative disables it (call
	// EnsurePartitions from a job instead).
	MaintenanceInterval time.Duration
	// MergeInterval is how often the store merges rollup deltas into the
	// rollup tables by itself (MergeRollups). Defaults to
	// DefaultMergeInterval; negative disables it (call MergeRollups from
	// a job instead). Queries are right either way; the merge keeps them
	// fast.
	MergeInterval time.Duration
	// Timescale chooses the readings layout where TimescaleDB is
	// available: TimescaleAuto (the default) or TimescaleOff.
	Timescale Timescale
	// CompressAfter is the age of a chunk of readings at which
	// TimescaleDB's compression policy compresses it, on a hypertable.
	// When set, Open changes an existing policy to it; when zero, a new
	// hypertable gets DefaultCompressAfter and an existing policy stays as
	// it is (so an admin command with no setting does not reset it).
	CompressAfter time.Duration
	// ContinuousAggregates keeps the stats of a new hypertable schema in
	// TimescaleDB continuous aggregates, one set per org (caggs.go),
	// rather than in the store's rollup tables. It is decided when the
	// schema's readings become a hypertable and kept by the schema: the
	// setting is ignored for a schema that holds readings already.
	ContinuousAggregates bool
	// BulkLoad is for a bulk import into a new database (vibemon
	// migrate): with continuous aggregates, neither ingest nor the store's
	// timer refreshes them, so that they are materialized once, by a
	// MergeRollups at the end, rather than recomputed for every batch
	// (until then, real-time aggregation answers from the readings).
	BulkLoad bool
}

// Store is the PostgreSQL implementation of vibemon.Store.
type Store struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	now       func() time.Time
	opts      Options
	timescale bool
	// hypertable: readings is a TimescaleDB hypertable (timescale.go);
	// tsFuncs qualifies the extension's functions ("public."), tsLicense
	// is its licence.
	hypertable atomic.Bool
	// caggs: the stats are continuous aggregates (caggs.go);
	// refreshTurns holds a chan struct{} of capacity 1 per org, the turn
	// to refresh its aggregates (refreshOrg).
	caggs        atomic.Bool
	refreshTurns sync.Map
	tsFuncs      string
	tsLicense    string
	// appName is the application_name of the store's connections ("" when
	// the URL sets one).
	appName string

	closed chan struct{}
	done   chan struct{}
	once   sync.Once

	partMu sync.Mutex
	parts  map[string]bool // partitions known to exist, by name

	ing ingestCounters
	// epochClass is the first key of the rollup watermark's advisory locks
	// (a hash of the schema: stores of other schemas do not wait for each
	// other); mark is the latest epoch and ingest_from seen.
	epochClass int32
	mark       atomic.Pointer[watermarkMark]
	orgMu      sync.RWMutex
	orgOf      map[int64]int64 // device -> org, of devices ingest has read (orgsKnown)
	rawChunk   atomic.Int64    // the merge's span of marked readings per statement (rollup.go)
	matSeen    atomic.Int64    // the latest materialized_to seen, Unix µs (Store.materialized)
	reqs       chan *ingestReq
	workers    sync.WaitGroup
	stopped    chan struct{} // closed when the workers are gone
}

var _ vibemon.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a DSN),
// applies pending migrations under an advisory lock, creates the readings
// partitions around now and starts partition maintenance.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PartitionsAhead <= 0 {
		opts.PartitionsAhead = 7
	}
	if opts.PartitionsBehind <= 0 {
		opts.PartitionsBehind = 2
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 5000
	}
	if opts.IngestWorkers <= 0 {
		opts.IngestWorkers = 2
	}
	if opts.MaintenanceInterval == 0 {
		opts.MaintenanceInterval = time.Hour
	}
	if opts.MergeInterval == 0 {
		opts.MergeInterval = DefaultMergeInterval
	}
	if opts.CompressAfter < 0 {
		opts.CompressAfter = 0
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Schema != "" {
		if err := createSchema(ctx, cfg.ConnConfig, opts.Schema); err != nil {
			return nil, err
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	// The application name tells this process's connections from other
	// replicas' on the same schema (ConvertToHypertable refuses to run
	// beside them).
	appName := ""
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		appName = appNamePrefix(cfg.ConnConfig.RuntimeParams["search_path"]) + fmt.Sprintf("%08x", rand.Uint32())
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	// Prepared statements on readings would switch to a generic plan at
	// their sixth execution, and building one over hundreds of daily
	// partitions took about a second per connection and statement (365
	// partitions, docs/postgres.md); custom plans prune at plan time and
	// plan in well under a millisecond. A URL may still set its own mode.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, log: opts.Logger, now: opts.Now, opts: opts, appName: appName,
		closed: make(chan struct{}), done: make(chan struct{}), parts: map[string]bool{},
		reqs: make(chan *ingestReq, 256), stopped: make(chan struct{})}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, mapErr("open postgres", err)
	}
	// Connected: the schema work runs under its own deadline (see
	// migrationContext).
	mctx, cancelMigrate := migrationContext(ctx)
	defer cancelMigrate()
	if err := s.migrate(mctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.setupTimescale(mctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.setupAggregates(mctx); err != nil {
		pool.Close()
		return nil, err
	}
	var mark watermarkMark
	var mat time.Time
	if err := pool.QueryRow(mctx, "SELECT hashtext('vibemon rollup epoch ' || current_schema()), epoch, ingest_from, materialized_to FROM rollup_watermark").
		Scan(&s.epochClass, &mark.epoch, &mark.ingestFrom, &mat); err != nil {
		pool.Close()
		return nil, mapErr("open postgres", err)
	}
	s.mark.Store(&mark)
	s.sawMaterialized(mat)
	s.rawChunk.Store(int64(rawChunkMin))
	if err := s.ensureWindow(mctx, s.now()); err != nil {
		pool.Close()
		return nil, err
	}
	go s.maintain()
	if opts.MergeInterval > 0 {
		s.workers.Add(1)
		go s.merger()
	}
	if opts.MaxBatch > 0 {
		s.workers.Add(1)
		go s.ingestWorker()
	}
	return s, nil
}

// createSchema creates the schema on a connection of its own, before the
// pool's connections set their search_path to it.
func createSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return mapErr("open postgres", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		// Two replicas creating the schema at once: one of them loses the
		// race on the catalog's unique index; the schema exists either way.
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			return mapErr("create schema", err)
		}
	}
	return nil
}

// Pool returns the connection pool, for read-only queries by other
// components (metrics, reports).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// TimescaleAvailable reports whether the timescaledb extension can be
// installed in the database (Hypertable says whether readings use it).
func (s *Store) TimescaleAvailable() bool { return s.timescale }

// maintain calls EnsurePartitions, then ReorderRollups, every
// MaintenanceInterval until Close.
func (s *Store) maintain() {
	defer close(s.done)
	if s.opts.MaintenanceInterval < 0 {
		<-s.closed
		return
	}
	s.every(s.opts.MaintenanceInterval, func() {
		ctx, cancel := s.untilClosed(30 * time.Minute)
		if err := s.EnsurePartitions(ctx, s.now()); err != nil {
			s.log.Error("partition maintenance failed", "err", err)
		}
		cancel()
		// A rewrite can take minutes: Close cancels it (it rolls back).
		ctx, cancel = s.untilClosed(30 * time.Minute)
		if _, err := s.ReorderRollups(ctx, s.now()); err != nil && !s.isClosed() {
			s.log.Error("rollup reorder failed; it is tried again at the next maintenance", "err", err)
		}
		cancel()
	})
}

// every runs work every interval until Close.
func (s *Store) every(interval time.Duration, work func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
			work()
		}
	}
}

// Close stops maintenance and the ingest workers (a transaction in flight
// finishes; queued calls get EUNAVAILABLE) and closes the pool, waiting for
// connections in use to be released. It is safe to call twice.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closed)
		<-s.done
		s.workers.Wait()
		s.failQueued()
		close(s.stopped)
		s.pool.Close()
	})
	return nil
}

// Ping returns an error when the store is closed or the database does not
// answer.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return fmt.Errorf("ping: %w", errClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return mapErr("ping", err)
	}
	return nil
}

var errClosed = vibemon.Errorf(vibemon.EUNAVAILABLE, "The store is closed.")

// untilClosed returns a context for background work that ends after d or
// when Close is called, whichever comes first, so Close does not wait for
// long work (it stops or rolls back).
func (s *Store) untilClosed(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// SchemaVersion returns the highest migration version applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, mapErr("schema version", err)
	}
	return v, nil
}

// LatestSchemaVersion is the version of the newest embedded migration.
func LatestSchemaVersion() int { return migration.Latest(migrations, "migrations") }

func loadMigrations() ([]migration.Migration, error) { return migration.Load(migrations, "migrations") }

// lockKey is the advisory lock that serializes schema changes of the
// current schema: replicas that start together take turns, and the later
// ones find the migrations applied.
const lockKey = "hashtextextended('vibemon:' || current_schema(), 0)"

// migrate applies the pending migrations in one transaction under the
// schema's advisory lock: the schema moves to the newest version or stays.
// migrateTimeout bounds the schema migrations of one Open.
const migrateTimeout = time.Hour

// migrationContext is the context of Open's work after connecting: schema
// migrations and partitions. A migration may rewrite a large table (0014
// copies rollup_1h: about a minute for a year of 1,000 devices), while the
// deadline of Open's ctx is the caller's budget for connecting (vibemon
// serve gives 15 s): cancelled at it, the migration would roll back on
// every start and the server never come up. So this work runs under its
// own timeout and stops early only when ctx is cancelled before its
// deadline (a shutdown signal).
func migrationContext(ctx context.Context) (context.Context, context.CancelFunc) {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), migrateTimeout)
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return mctx, func() { stop(); cancel() }
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return s.tx(ctx, "migrate", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for _, v := range versions {
			applied[int(v)] = true
		}
		// A new schema says so once; an upgrade names each migration
		// (one may take long on a large database).
		level := slog.LevelInfo
		if len(applied) == 0 {
			level = slog.LevelDebug
		}
		pending := migration.Pending(ms, applied)
		for _, m := range pending {
			s.log.Log(ctx, level, "applying migration", "name", m.Name)
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, s.now()); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			s.log.Log(ctx, level, "applied migration", "name", m.Name)
		}
		if len(applied) == 0 && len(pending) > 0 {
			s.log.Info("created the database schema", "schema_version", pending[len(pending)-1].Version)
		}
		return nil
	})
}

// partitionName is the name of the readings partition of day.
func partitionName(day time.Time) string { return "readings_" + day.UTC().Format("20060102") }

// rangePart is one range partition: of readings by day, or of rollup_1h by
// month (migration 0014).
type rangePart struct {
	parent, col, name string
	from, to          time.Time
	with              string // storage parameters, e.g. "fillfactor = 80"
}

func dayPart(day time.Time) rangePart {
	return rangePart{parent: "readings", col: "ts", name: partitionName(day), from: day, to: day.AddDate(0, 0, 1)}
}

func monthPart(t time.Time) rangePart {
	m := time.Date(t.UTC().Year(), t.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	return rangePart{parent: "rollup_1h", col: "bucket_start", name: rollupMonthName(m), from: m, to: m.AddDate(0, 1, 0),
		with: "fillfactor = 80"}
}

// EnsurePartitions creates the daily partitions of readings from
// PartitionsBehind days before now's day to PartitionsAhead days after it,
// and the monthly partitions of rollup_1h of those days, moving any rows of
// them out of the default partitions; then it drains the default
// partitions a little (drainDefaults). It is safe to call concurrently,
// also from several replicas; a periodic job (or the store's own
// maintenance) calls it so that partitions exist before their day begins.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time) error {
	if err := s.ensureWindow(ctx, now); err != nil {
		return err
	}
	return s.drainDefaults(ctx)
}

// Per call of EnsurePartitions, at most this many days of readings and
// months of hourly rollups are moved out of the default partitions, so
// each call stays bounded (a day of 1,000 devices at one reading a second
// is 86 M rows). vibemon migrate makes the partitions of its history first
// (PreparePartitions); what lands in the defaults otherwise is late data.
const drainDays, drainMonths = 7, 1

// drainDefaults creates the partitions of the oldest days and months that
// have rows in readings_default and rollup_1h_default, which moves those
// rows into them. Rows land there when no partition of their time exists:
// history copied by vibemon migrate, a gateway syncing readings older than
// PartitionsBehind. In a partition, old readings are pruned by dropping
// whole days, and an ended month of rollups is rewritten in device order
// (ReorderRollups); in the default partition neither happens, and every
// ATTACH of a new partition scans it.
func (s *Store) drainDefaults(ctx context.Context) error {
	var parts []rangePart
	var days []time.Time
	if !s.hypertable.Load() { // a hypertable has no default partition
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT date_trunc('day', ts, 'UTC') AS d FROM readings_default ORDER BY d LIMIT $1`, drainDays)
		if err != nil {
			return mapErr("drain default partitions", err)
		}
		if days, err = pgx.CollectRows(rows, pgx.RowTo[time.Time]); err != nil {
			return mapErr("drain default partitions", err)
		}
		for _, d := range days {
			parts = append(parts, dayPart(d.UTC()))
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT date_trunc('month', bucket_start, 'UTC') AS m FROM rollup_1h_default ORDER BY m LIMIT $1`, drainMonths)
	if err != nil {
		return mapErr("drain default partitions", err)
	}
	months, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return mapErr("drain default partitions", err)
	}
	for _, m := range months {
		parts = append(parts, monthPart(m.UTC()))
	}
	if len(parts) == 0 {
		return nil
	}
	// A partition this replica believes exists while rows of its range sit
	// in the default one cannot be: forget the cache for these names.
	s.partMu.Lock()
	for _, p := range parts {
		delete(s.parts, p.name)
	}
	s.partMu.Unlock()
	if err := s.ensureParts(ctx, parts); err != nil {
		return err
	}
	s.log.Info("moved rows out of the default partitions", "days", len(days), "months", len(months))
	return nil
}

// PreparePartitions creates the daily partitions of readings and the
// monthly ones of rollup_1h from from's day to to's, so that rows of that
// range written next (vibemon migrate's history) go straight into them.
func (s *Store) PreparePartitions(ctx context.Context, from, to time.Time) error {
	return s.ensureParts(ctx, daysAndMonths(from, to))
}

// ensureWindow creates the partitions of EnsurePartitions' window.
func (s *Store) ensureWindow(ctx context.Context, now time.Time) error {
	today := now.UTC().Truncate(24 * time.Hour)
	return s.ensureParts(ctx, daysAndMonths(today.AddDate(0, 0, -s.opts.PartitionsBehind), today.AddDate(0, 0, s.opts.PartitionsAhead)))
}

// daysAndMonths returns the readings partitions of the days from from's
// day to to, and the rollup_1h partitions of their months.
func daysAndMonths(from, to time.Time) []rangePart {
	var parts []rangePart
	months := map[string]bool{}
	for day := from.UTC().Truncate(24 * time.Hour); !day.After(to); day = day.AddDate(0, 0, 1) {
		parts = append(parts, dayPart(day))
		if m := monthPart(day); !months[m.name] {
			months[m.name] = true
			parts = append(parts, m)
		}
	}
	return parts
}

// ensureParts creates the partitions of parts that do not exist yet.
func (s *Store) ensureParts(ctx context.Context, parts []rangePart) error {
	s.partMu.Lock()
	defer s.partMu.Unlock()
	var missing []rangePart
	for _, p := range parts {
		if s.hypertable.Load() && p.parent == "readings" {
			continue // TimescaleDB makes the chunks
		}
		if !s.parts[p.name] {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := s.tx(ctx, "ensure partitions", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent IN ('readings'::regclass, 'rollup_1h'::regclass)`)
		if err != nil {
			return err
		}
		existing, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range existing {
			s.parts[n] = true
		}
		for _, p := range missing {
			if s.parts[p.name] {
				continue
			}
			if err := createPartition(ctx, tx, p); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			s.log.Info("created partition", "name", p.name)
		}
		return nil
	})
	if err != nil {
		// The transaction rolled back: forget what it created.
		s.parts = map[string]bool{}
		return err
	}
	for _, p := range missing {
		s.parts[p.name] = true
	}
	return nil
}

// createPartition makes one partition: a table of the parent's shape that
// takes over the range's rows from the default partition, then attached.
// (CREATE TABLE ... PARTITION OF fails when the default partition holds
// rows of the new range.)
func createPartition(ctx context.Context, tx pgx.Tx, p rangePart) error {
	id := pgx.Identifier{p.name}.Sanitize()
	with := ""
	if p.with != "" {
		with = " WITH (" + p.with + ")"
	}
	stmts := []struct {
		sql  string
		args []any
	}{
		{"CREATE TABLE " + id + " (LIKE " + p.parent + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)" + with, nil},
		{"WITH moved AS (DELETE FROM " + p.parent + "_default WHERE " + p.col + " >= $1 AND " + p.col + " < $2 RETURNING *) INSERT INTO " + id + " SELECT * FROM moved", []any{p.from, p.to}},
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return attachPartition(ctx, tx, p, id)
}

// attachPartition attaches the table id as p, with a CHECK constraint of
// the range while attaching so that ATTACH need not scan the table.
func attachPartition(ctx context.Context, tx pgx.Tx, p rangePart, id string) error {
	check := pgx.Identifier{p.name + "_range"}.Sanitize()
	from, to := p.from.Format(time.RFC3339), p.to.Format(time.RFC3339)
	for _, sql := range []string{
		"ALTER TABLE " + id + " ADD CONSTRAINT " + check + " CHECK (" + p.col + " >= '" + from + "' AND " + p.col + " < '" + to + "')",
		"ALTER TABLE " + p.parent + " ATTACH PARTITION " + id + " FOR VALUES FROM ('" + from + "') TO ('" + to + "')",
		"ALTER TABLE " + id + " DROP CONSTRAINT " + check,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// Partitions returns the names of the readings partitions, oldest first,
// without the default one; on a hypertable, its chunks' names.
func (s *Store) Partitions(ctx context.Context) ([]string, error) {
	if s.hypertable.Load() {
		cs, err := s.Chunks(ctx)
		names := make([]string, len(cs))
		for i, c := range cs {
			names[i] = c.Name
		}
		return names, err
	}
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'readings'::regclass AND c.relname <> 'readings_default' ORDER BY c.relname`)
	if err != nil {
		return nil, mapErr("partitions", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, mapErr("partitions", err)
}

// tx runs fn in a transaction and commits it, retrying the whole
// transaction a few times on a deadlock or serialization failure (which
// roll it back entirely, so a retry is safe).
func (s *Store) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return mapErr(op, s.retrying(op, func() error { return pgx.BeginFunc(ctx, s.pool, fn) }))
}

// retrying runs one transaction (run) and runs it again after a deadlock or
// serialization failure, up to 4 times in all; the last error is returned
// unmapped.
func (s *Store) retrying(op string, run func() error) error {
	if s.isClosed() {
		return errClosed
	}
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = run()
		if !retryable(err) {
			break
		}
		s.log.Warn("transaction retried", "op", op, "attempt", attempt+1, "err", err)
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// mapErr translates driver errors to application errors at the boundary,
// so that SQL text never reaches a client.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *vibemon.Error
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.ENOTFOUND, "Not found."))
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.ECONFLICT, "The row conflicts with an existing one."))
		case pe.Code == "23503" || pe.Code == "23514" || pe.Code == "23502":
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.EINVALID, "A value is missing, out of range or refers to a missing row."))
		case pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "55P03" || pe.Code == "53300" ||
			strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P"):
			return fmt.Errorf("%s: %w (%v)", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The database is busy or unavailable; retry later."), err)
		case pe.Code == "53100":
			return fmt.Errorf("%s: %w (%v)", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The disk is full."), err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("%s: %w (%v)", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The database is unavailable; retry later."), err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %w (%v)", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The database is unavailable; retry later."), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func notFound(what string) error {
	return vibemon.Errorf(vibemon.ENOTFOUND, "%s not found.", what)
}

// now returns the clock at the database's precision (microseconds), in UTC,
// so that what a method returns equals what a later read returns.
func (s *Store) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// utc returns t in UTC at microsecond precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// utcPtr converts a nullable column to *time.Time in UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
