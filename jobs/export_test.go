package jobs

import "context"

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
