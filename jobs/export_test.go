package jobs

import (
	"context"
	"time"
)

// Kill stops the Runner the way a crash does, as far as River's tables
// can tell: River's database is closed under the running client first, so
// a job in flight stays "running" and is rescued by the next client.
func (r *Runner) Kill() {
	r.stopOnce.Do(func() {
		if r.db != nil {
			r.db.Close()
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = r.client.StopAndCancel(ctx)
	})
}

// JobStates returns the states of the jobs of kind in River's SQLite
// database, by id.
func (r *Runner) JobStates(ctx context.Context, kind string) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT state FROM river_job WHERE kind = ? ORDER BY id", kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// JobScheduledAt returns when the jobs of kind are due, by id.
func (r *Runner) JobScheduledAt(ctx context.Context, kind string) ([]time.Time, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT cast(scheduled_at AS text) FROM river_job WHERE kind = ? ORDER BY id", kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
