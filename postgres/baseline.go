package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// CopyBaseline measures the ceiling that InsertReadings is compared with:
// the same batches, from clients concurrent callers, each COPYed with
// pgx.CopyFrom into a plain table of the readings' columns (no key, no
// index, no rollups, no idempotency; logged like the real tables). The table
// is created in the store's schema and dropped afterwards. It returns the
// number of rows copied and the time it took.
func (s *Store) CopyBaseline(ctx context.Context, batches [][]vibemon.Reading, clients int) (int, time.Duration, error) {
	const table = "copy_baseline"
	cols := append([]string{"device_id", "seq", "ts"}, metricCols()...)
	if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return 0, 0, mapErr("copy baseline", err)
	}
	if _, err := s.pool.Exec(ctx, "CREATE TABLE "+table+" AS SELECT "+joinCols(cols)+" FROM readings WITH NO DATA"); err != nil {
		return 0, 0, mapErr("copy baseline", err)
	}
	defer s.pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)

	var next, copied atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) || ctx.Err() != nil {
					return
				}
				src := &stageSource{rs: batches[i], skipIdx: true}
				n, err := s.pool.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("copy baseline: %w", err) })
					return
				}
				copied.Add(n)
			}
		}()
	}
	wg.Wait()
	return int(copied.Load()), time.Since(start), firstErr
}

func joinCols(cols []string) string {
	out := ""
	for i, c := range cols {
		if i > 0 {
			out += ", "
		}
		out += c
	}
	return out
}
