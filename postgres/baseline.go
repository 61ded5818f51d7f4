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
// pgx.CopyFrom into a table of the readings' layout (CREATE TABLE ... (LIKE
// readings INCLUDING ALL), so the same columns and indexes, range-partitioned
// by day like readings with a partition for every day of the batches), with
// no idempotency, no rollups and no last-seen state; logged like the real
// tables. The table is created in the store's schema and dropped afterwards.
// It returns the number of rows copied and the time it took.
func (s *Store) CopyBaseline(ctx context.Context, batches [][]vibemon.Reading, clients int) (int, time.Duration, error) {
	const table = "copy_baseline"
	stmts := []string{
		"DROP TABLE IF EXISTS " + table,
		"CREATE TABLE " + table + " (LIKE readings INCLUDING ALL) PARTITION BY RANGE (ts)",
		"CREATE TABLE " + table + "_default PARTITION OF " + table + " DEFAULT",
	}
	days := map[time.Time]bool{}
	for _, b := range batches {
		for i := range b {
			days[b[i].TS.UTC().Truncate(24*time.Hour)] = true
		}
	}
	for d := range days {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s_%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')",
			table, d.Format("20060102"), table, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339)))
	}
	for _, st := range stmts {
		if _, err := s.pool.Exec(ctx, st); err != nil {
			return 0, 0, mapErr("copy baseline", err)
		}
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
				rs := make([]*vibemon.Reading, len(batches[i]))
				for j := range rs {
					rs[j] = &batches[i][j]
				}
				src := &readingSource{rs: rs}
				n, err := s.pool.CopyFrom(ctx, pgx.Identifier{table}, readingCols, src)
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
