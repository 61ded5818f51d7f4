package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures a Store. The zero value means the documented defaults.
type Options struct {
	// Logger receives warnings about slow or failed writes. Defaults to a
	// logger that discards.
	Logger *slog.Logger
	// Now is the clock used for created/updated times. Defaults to time.Now.
	Now func() time.Time
	// BusyTimeout is how long a connection waits for a lock held by another
	// process. Defaults to 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read pool. Defaults to 4.
	ReadConns int
	// Synchronous is the write connection's PRAGMA synchronous: "FULL"
	// (default: a returned write survives power loss) or "NORMAL" (faster; a
	// power loss may drop the last commits, never corrupt the file).
	Synchronous string
	// MaxBatch is the most readings the writer coalesces into one
	// transaction. Defaults to 5000.
	MaxBatch int
}

// Store is the SQLite implementation of vibemon.Store.
type Store struct {
	path   string
	log    *slog.Logger
	now    func() time.Time
	rdb    *sql.DB // read pool, query_only
	wdb    *sql.DB // exactly one connection: every write goes through it
	w      *writer
	closed chan struct{}
	once   sync.Once
	err    error
}

var _ vibemon.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies pending
// migrations and starts the ingest writer.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 5000
	}
	syncMode := strings.ToUpper(opts.Synchronous)
	switch syncMode {
	case "":
		syncMode = "FULL"
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("open sqlite: Options.Synchronous %q is not FULL, NORMAL or EXTRA", opts.Synchronous)
	}
	if path == "" {
		return nil, fmt.Errorf("open sqlite: path is empty")
	}
	s := &Store{path: path, log: opts.Logger, now: opts.Now, closed: make(chan struct{})}

	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq := url.Values{}
	wq.Set("_busy_timeout", busy)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_foreign_keys", "1")
	wq.Set("_synchronous", syncMode)
	wq.Set("_txlock", "immediate")
	var err error
	if s.wdb, err = sql.Open("sqlite", base+"?"+wq.Encode()); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := s.migrate(context.Background()); err != nil {
		s.wdb.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Set("_busy_timeout", busy)
	rq.Set("_foreign_keys", "1")
	rq.Set("_query_only", "1")
	if s.rdb, err = sql.Open("sqlite", base+"?"+rq.Encode()); err != nil {
		s.wdb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	if err := s.rdb.Ping(); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	if s.w, err = newWriter(s, opts.MaxBatch); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	go s.w.run()
	return s, nil
}

// DB returns the read pool, for read-only queries by other components.
func (s *Store) DB() *sql.DB { return s.rdb }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the writer, answering queued writes with EUNAVAILABLE, and
// closes the database. It is safe to call twice.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closed)
		<-s.w.done
		s.w.close()
		err1 := s.rdb.Close()
		// A checkpoint on close keeps the WAL file small between runs.
		_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		err2 := s.wdb.Close()
		if err := errors.Join(err1, err2); err != nil {
			s.err = fmt.Errorf("close sqlite: %w", err)
		}
	})
	return s.err
}

// Ping returns an error when the store is closed or the file cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closed:
		return vibemon.Errorf(vibemon.EUNAVAILABLE, "The store is closed.")
	default:
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// SchemaVersion returns the highest migration version applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.rdb.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// LatestSchemaVersion is the version of the newest embedded migration.
func LatestSchemaVersion() int { return migration.Latest(migrations, "migrations") }

func loadMigrations() ([]migration.Migration, error) { return migration.Load(migrations, "migrations") }

// migrate applies the pending migrations in one transaction: either the
// schema moves to the newest version or it stays where it was.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// A new database says so once; an upgrade names each migration.
	level := slog.LevelInfo
	if len(applied) == 0 {
		level = slog.LevelDebug
	}
	pending := migration.Pending(ms, applied)
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		s.log.Log(ctx, level, "applied migration", "name", m.Name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 && len(pending) > 0 {
		s.log.Info("created the database", "schema_version", pending[len(pending)-1].Version)
	}
	return nil
}

// nowMS returns the clock in unix milliseconds.
func (s *Store) nowMS() int64 { return s.now().UnixMilli() }

// msTime converts unix milliseconds to a UTC time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// msPtr converts a nullable column to *time.Time.
func msPtr(ms sql.NullInt64) *time.Time {
	if !ms.Valid {
		return nil
	}
	t := msTime(ms.Int64)
	return &t
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
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.ENOTFOUND, "Not found."))
	}
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.ECONFLICT, "The row conflicts with an existing one."))
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.EINVALID, "A value is missing, out of range or refers to a missing row."))
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The database is busy; retry later."))
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The disk is full."))
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func notFound(what string) error {
	return vibemon.Errorf(vibemon.ENOTFOUND, "%s not found.", what)
}

// writeTx runs fn in a transaction on the write connection.
func (s *Store) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	select {
	case <-s.closed:
		return fmt.Errorf("%s: %w", op, vibemon.Errorf(vibemon.EUNAVAILABLE, "The store is closed."))
	default:
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return mapErr(op, err)
	}
	return mapErr(op, tx.Commit())
}
