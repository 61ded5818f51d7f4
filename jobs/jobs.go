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

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
)

// OrgLister lists every organization's id, for work that runs across
// tenants (the root OrgStore has no listing).
type OrgLister interface {
	OrgIDs(ctx context.Context) ([]int64, error)
}

// Config configures a Runner. The zero value of each optional field means
// the documented default.
type Config struct {
	// Path is River's SQLite file, e.g. <data dir>/jobs.db. Required.
	Path string
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
}

// Runner owns River's client and database.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	db     *sql.DB
	client *river.Client[*sql.Tx]
	svc    *analysis.Service

	ruleMu sync.Mutex // serializes creating an org's diagnosis rules

	mu       sync.Mutex
	started  bool
	stopOnce sync.Once
}

// New opens (creating) River's database at cfg.Path, applies River's
// migrations and builds the client. It starts nothing; call Start.
func New(cfg Config) (*Runner, error) {
	if cfg.Path == "" {
		return nil, errors.New("new jobs runner: Config.Path is empty")
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
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Analysis == nil {
		cfg.Analysis = &analysis.Service{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger}
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, svc: cfg.Analysis}

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
	ctx := context.Background()
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: cfg.Logger})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: migrate %s: %w", cfg.Path, err)
	}

	rc := &river.Config{Logger: cfg.Logger, MaxAttempts: cfg.MaxAttempts}
	if !cfg.InsertOnly {
		workers := river.NewWorkers()
		river.AddWorker(workers, &analyzeWorker{r: r})
		river.AddWorker(workers, &trainWorker{r: r})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.TrainInterval),
				func() (river.JobArgs, *river.InsertOpts) { return TrainBaselines{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		}
	}
	if r.client, err = river.NewClient(driver, rc); err != nil {
		db.Close()
		return nil, fmt.Errorf("new jobs runner: %w", err)
	}
	return r, nil
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
// retries them later) and closes the database. It is safe to call twice.
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
		if err := r.db.Close(); err != nil {
			r.log.Warn("close jobs database", "err", err)
		}
	})
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
