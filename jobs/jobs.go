package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/analysis"
)

// OrgLister lists every organization's id, for work that runs across
// tenants (the root OrgStore has no listing).
type OrgLister interface {
	OrgIDs(ctx context.Context) ([]int64, error)
}

// PartitionEnsurer creates the store's time partitions around now; what
// the periodic EnsurePartitions job calls (the PostgreSQL store does).
type PartitionEnsurer interface {
	EnsurePartitions(ctx context.Context, now time.Time) error
}

// RollupReorderer rewrites months of hourly rollups in device order, the
// current one daily and each a final time once it ended (the PostgreSQL
// store does; docs/postgres.md "Rollup layout"), one per call; the
// EnsurePartitions job calls it after creating partitions when
// Config.Partitions implements it.
type RollupReorderer interface {
	ReorderRollups(ctx context.Context, now time.Time) (string, error)
}

// Config configures a Runner. The zero value of each optional field means
// the documented default.
type Config struct {
	// Path is River's SQLite file, e.g. <data dir>/jobs.db. Required
	// unless PGPool is set.
	Path string
	// PGPool, when set, puts River's tables in this PostgreSQL database
	// (River's pgx driver) instead of the SQLite file at Path: every
	// replica sharing the database shares one queue, River's leader runs
	// the periodic jobs once per cluster, and a job runs on one replica.
	// The Runner does not close the pool.
	PGPool *pgxpool.Pool
	// Store holds waveforms, devices, rules and alerts. Required.
	Store vibemon.Store
	// Analysis analyses bursts and trains models. Defaults to a Service
	// over Store with Now and Logger.
	Analysis *analysis.Service
	// Orgs lists the orgs whose devices TrainBaselines visits; nil means
	// TrainBaselines does nothing.
	Orgs OrgLister
	// Bus, when set, receives an alert event for each diagnosis alert
	// opened or updated.
	Bus vibemon.Bus
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// InsertOnly makes a Runner that enqueues jobs but works none, for a
	// process without the worker role. Defaults to false: Start works jobs.
	InsertOnly bool
	// Workers is how many jobs run at once. Defaults to 2: analysis is CPU
	// bound.
	Workers int
	// TrainInterval is how often TrainBaselines runs. Defaults to 1 hour.
	TrainInterval time.Duration
	// MaxAttempts is how often a failing job is tried. Defaults to 5.
	MaxAttempts int
	// Partitions, when set, is called by the periodic EnsurePartitions
	// job; nil means no such job.
	Partitions PartitionEnsurer
	// PartitionInterval is how often EnsurePartitions runs. Defaults to 1
	// hour.
	PartitionInterval time.Duration
	// Rollups, when set, is called by the periodic MergeRollups job
	// (rollups.go); nil means no such job.
	Rollups RollupMerger
	// RollupInterval is how often MergeRollups runs. Defaults to
	// DefaultRollupInterval.
	RollupInterval time.Duration
	// Retention, when set, is called by the periodic PruneReadings job
	// (retention.go); nil means no such job.
	Retention vibemon.ReadingPruner
	// RetentionInterval is how often PruneReadings runs. Defaults to
	// DefaultRetentionInterval.
	RetentionInterval time.Duration
	// EscalationInterval is how often CheckEscalations escalates and
	// reminds about open alerts. Defaults to DefaultEscalationInterval.
	EscalationInterval time.Duration
	// Notify, when set, delivers alert notifications (notify.go): the
	// dispatcher, delivery, summary and digest jobs. nil means none.
	Notify *NotifyConfig
	// Alerts raises the alerts of the offline, anomaly and forecast rules
	// (rule_kinds.go). Defaults to an engine over Store with Now.
	Alerts *alerting.Engine
	// OfflineInterval is how often CheckOfflineRules runs. Defaults to
	// DefaultOfflineInterval.
	OfflineInterval time.Duration
	// HealthRuleInterval is how often CheckHealthRules runs. Defaults to
	// DefaultHealthRuleInterval.
	HealthRuleInterval time.Duration
	// RiverNow, when set, is River's clock too (scheduled, snoozed and
	// retried jobs become due by it), so that tests with a frozen Now
	// can move time forward. Defaults to River's own clock (time.Now).
	RiverNow func() time.Time
}

// client is what the Runner uses of River's client, whichever its driver.
type client interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
}

// Runner owns River's client and database.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	db     *sql.DB // River's SQLite database; nil on PostgreSQL
	client client
	svc    *analysis.Service
	notify *NotifyConfig // Config.Notify with defaults; nil: no notifications

	ruleMu sync.Mutex // serializes creating an org's diagnosis rules

	alertsOnce sync.Once
	engine     *alerting.Engine // the rule-kind jobs' (alerts())

	mu       sync.Mutex
	started  bool
	stopOnce sync.Once
}

// New applies River's migrations, to the PostgreSQL database of
// cfg.PGPool when set, else to the SQLite file at cfg.Path (created if
// missing), and builds the client. It starts nothing; call Start.
func New(cfg Config) (*Runner, error) {
	if cfg.Path == "" && cfg.PGPool == nil {
		return nil, errors.New("new jobs runner: Config.Path is empty and Config.PGPool is nil")
	}
	if cfg.Store == nil {
		return nil, errors.New("new jobs runner: Config.Store is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.TrainInterval <= 0 {
		cfg.TrainInterval = time.Hour
	}
	if cfg.PartitionInterval <= 0 {
		cfg.PartitionInterval = time.Hour
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Analysis == nil {
		cfg.Analysis = &analysis.Service{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger}
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, svc: cfg.Analysis}
	ctx := context.Background()
	var err error
	if cfg.PGPool != nil {
		driver := riverpgxv5.New(cfg.PGPool)
		if err := migratePostgres(ctx, cfg.PGPool, driver, cfg.Logger); err != nil {
			return nil, fmt.Errorf("new jobs runner: %w", err)
		}
		if r.client, err = river.NewClient(driver, r.riverConfig()); err != nil {
			return nil, fmt.Errorf("new jobs runner: %w", err)
		}
		return r, nil
	}

	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: cfg.Path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("new jobs runner: %w", err)
	}
	db.SetMaxOpenConns(1)
	r.db = db
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: riverLogger(cfg.Logger)})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: migrate %s: %w", cfg.Path, err)
	}
	if r.client, err = river.NewClient(driver, r.riverConfig()); err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: %w", err)
	}
	return r, nil
}

// migrateLockKey is the PostgreSQL advisory lock key under which River's
// migrations run ("viberivr" in ASCII), so that replicas starting
// together apply them once.
const migrateLockKey int64 = 0x76696265_72697672

// migratePostgres applies River's pending migrations while holding a
// session advisory lock on a connection of its own: replicas that start
// together queue on the lock and the later ones find nothing to apply.
// (River applies each version in its own transaction; version 6 cannot
// share one with version 5, so the lock cannot be transaction-scoped.)
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, driver riverdriver.Driver[pgx.Tx], log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: riverLogger(log)})
	if err != nil {
		return fmt.Errorf("migrate river tables: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate river tables: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("migrate river tables: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
			// Closing the session releases the lock; the pool then
			// drops the closed connection.
			_ = conn.Conn().Close(context.Background())
		}
	}()
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate river tables: %w", err)
	}
	return nil
}

// riverConfig returns River's client configuration: workers, queue and
// periodic jobs unless InsertOnly.
func (r *Runner) riverConfig() *river.Config {
	cfg := r.cfg
	rc := &river.Config{Logger: riverLogger(cfg.Logger), MaxAttempts: cfg.MaxAttempts}
	if cfg.RiverNow != nil {
		rc.Test.Time = riverClock(cfg.RiverNow)
	}
	if cfg.InsertOnly {
		return rc
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &analyzeWorker{r: r})
	river.AddWorker(workers, &trainWorker{r: r})
	river.AddWorker(workers, &partitionWorker{r: r})
	rc.Workers = workers
	rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	rc.PeriodicJobs = []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(cfg.TrainInterval),
			func() (river.JobArgs, *river.InsertOpts) { return TrainBaselines{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
	if cfg.Partitions != nil {
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(cfg.PartitionInterval),
			func() (river.JobArgs, *river.InsertOpts) { return EnsurePartitions{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	r.addEscalationJob(workers, rc)
	r.addRuleKindJobs(workers, rc)
	r.addRetentionJob(workers, rc)
	r.addRollupJob(workers, rc)
	if cfg.Notify != nil {
		r.addNotifyJobs(workers, rc)
	}
	return rc
}

// Start starts working jobs (unless InsertOnly) until Stop or until ctx is
// done.
func (r *Runner) Start(ctx context.Context) error {
	if r.cfg.InsertOnly {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("start jobs runner: already started")
	}
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("start jobs runner: %w", err)
	}
	r.started = true
	return nil
}

// Stop lets running jobs finish for up to 10 s, cancels the rest (River
// retries them later) and closes River's SQLite database (a PostgreSQL pool
// stays open: its owner closes it). It is safe to call twice.
func (r *Runner) Stop() {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		started := r.started
		r.mu.Unlock()
		if started {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.client.Stop(ctx); err != nil {
				r.log.Warn("stop jobs: soft stop timed out; cancelling running jobs", "err", err)
				hard, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
				_ = r.client.StopAndCancel(hard)
				cancel2()
			}
			cancel()
		}
		if r.db == nil {
			return
		}
		if err := r.db.Close(); err != nil {
			r.log.Warn("close jobs database", "err", err)
		}
	})
}

// Ready reports whether the Runner can do its work: an InsertOnly Runner
// always can (inserting fails on its own when the database is gone); a
// working Runner must have been started and not have stopped.
func (r *Runner) Ready(ctx context.Context) error {
	if r.cfg.InsertOnly {
		return nil
	}
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		return errors.New("jobs runner: not started")
	}
	select {
	case <-r.client.Stopped():
		return errors.New("jobs runner: stopped")
	default:
		return nil
	}
}

// EnqueueAnalyzeWaveform queues the analysis of a stored burst. The job is
// unique by its arguments: enqueuing the same burst again while River keeps
// its job (queued, running or recently completed) queues nothing more.
func (r *Runner) EnqueueAnalyzeWaveform(ctx context.Context, orgID, waveformID int64) error {
	_, err := r.client.Insert(ctx, AnalyzeWaveform{OrgID: orgID, WaveformID: waveformID}, nil)
	if err != nil {
		return fmt.Errorf("enqueue analyze waveform: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "The job queue is unavailable; retry later."))
	}
	return nil
}

// EnqueueTrainBaselines queues a TrainBaselines run now.
func (r *Runner) EnqueueTrainBaselines(ctx context.Context) error {
	if _, err := r.client.Insert(ctx, TrainBaselines{}, nil); err != nil {
		return fmt.Errorf("enqueue train baselines: %w", err)
	}
	return nil
}

// Submit stores a burst (pending analysis) and queues its analysis: what
// POST /devices/{id}/waveforms does. When the burst is stored but the queue
// fails, the burst stays pending and Submit returns nil after logging: the
// client must not send it again.
func (r *Runner) Submit(ctx context.Context, orgID int64, w *vibemon.Waveform) error {
	w.OrgID = orgID
	if err := r.cfg.Store.CreateWaveform(ctx, w); err != nil {
		return err
	}
	if err := r.EnqueueAnalyzeWaveform(ctx, orgID, w.ID); err != nil {
		r.log.Error("queue waveform analysis; the burst stays pending", "org", orgID, "waveform", w.ID, "err", err)
	}
	return nil
}
