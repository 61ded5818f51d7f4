package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// Rollups off the ingest path (migration 0013, docs/postgres.md "Rollups").
//
// Ingest appends what each batch adds to a device's minutes to rollup_delta
// (no unique key, so no row locks and no upsert per batch and resolution).
// MergeRollups moves deltas into rollup_1m, rollup_1h and rollup_1d: one
// statement deletes a set of delta rows and adds their sums to the three
// tables, so each delta is, at any snapshot, either still in rollup_delta or
// in the rollups, never both and never neither. A bucketed query reads the
// rollup rows and the deltas of the same range in one statement (one
// snapshot) and adds them up, so it sees every stored reading however far
// behind the merge is.

// DefaultMergeInterval is how often a Store merges rollup deltas by itself
// when Options.MergeInterval is zero.
const DefaultMergeInterval = 5 * time.Second

// mergeLimit is the most delta rows one merge statement moves; MergeRollups
// repeats until fewer are left, so a backlog (the merge was stopped for a
// while) is worked off in bounded transactions.
const mergeLimit = 20000

// mergeSQL moves up to $1 delta rows into the three rollup tables. Rows
// another merge has locked are skipped (replicas merging at the same time
// take disjoint sets) and each table's rows are upserted in key order (two
// merges never wait on each other in a cycle). Deltas of a device deleted
// in the meantime are dropped: its row is share-locked, so a DeleteDevice
// waits for this merge and then deletes the rows it wrote, or went first
// and the join drops them.
var mergeSQL = func() string {
	var sums, sets []string
	for _, m := range metricCols() {
		sums = append(sums, fmt.Sprintf("sum(%[1]s_n)::bigint, sum(%[1]s_sum), min(%[1]s_min), max(%[1]s_max)", m))
		sets = append(sets,
			fmt.Sprintf("%[1]s_n = t.%[1]s_n + excluded.%[1]s_n", m),
			fmt.Sprintf("%[1]s_sum = t.%[1]s_sum + excluded.%[1]s_sum", m),
			fmt.Sprintf("%[1]s_min = least(t.%[1]s_min, excluded.%[1]s_min)", m),
			fmt.Sprintf("%[1]s_max = greatest(t.%[1]s_max, excluded.%[1]s_max)", m))
	}
	cols := "device_id, " + strings.Join(aggCols(), ", ")
	sum := "sum(count)::bigint, " + strings.Join(sums, ", ")
	set := "count = t.count + excluded.count, " + strings.Join(sets, ", ")
	// m1 is the deltas summed per (device, minute), named as rollup_delta's
	// columns: the one pass over every delta row. The three upserts read
	// it, each summing it to its own width (rollup_1m: already there).
	// A delta row leaves out what follows from its other columns
	// (migration 0019, copyDeltas): read it back with deltaAggs.
	named := append([]string{"sum(count)::bigint"}, deltaAggs(metricCols())...)
	for i, c := range aggCols()[1:] {
		named[i] += " AS " + c
	}
	var ups []string
	for i, ru := range rollups {
		ups = append(ups, fmt.Sprintf(`u%d AS (
	INSERT INTO %s AS t (%s)
	SELECT device_id, date_bin('%s', bucket_start, timestamptz 'epoch') AS b, %s FROM m1 GROUP BY device_id, b ORDER BY device_id, b
	ON CONFLICT (device_id, bucket_start) DO UPDATE SET %s)`, i, ru.table, cols, ru.width, sum, set))
	}
	return `WITH d AS (
	DELETE FROM rollup_delta WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_delta LIMIT $1 FOR UPDATE SKIP LOCKED))
	RETURNING *
), live AS (
	SELECT id FROM devices WHERE id IN (SELECT device_id FROM d) FOR KEY SHARE
), m1 AS MATERIALIZED (
	SELECT d.device_id, d.bucket_start, ` + strings.Join(named, ", ") + `
	FROM d JOIN live ON live.id = d.device_id GROUP BY d.device_id, d.bucket_start
), ` + strings.Join(ups, ", ") + `
SELECT count(*) FROM d`
}()

// MergeRollups moves delta rows into the rollup tables, in transactions of
// at most mergeLimit rows, until one moves fewer (so deltas that keep
// arriving meanwhile are merged too), and returns how many it moved. While
// ReorderRollups rewrites a month (rollup_layout.go) a merge waits for it
// (it locks rollup_1h first, so the two do not deadlock; a transaction that
// loses a deadlock would be run again, s.tx). Safe to run on several
// replicas at once; queries give the same answers before and after.
func (s *Store) MergeRollups(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		if err := s.tx(ctx, "merge rollups", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, mergeSQL, mergeLimit).Scan(&n)
		}); err != nil {
			return total, err
		}
		total += n
		if n < mergeLimit {
			return total, nil
		}
	}
}

// PendingRollupDeltas counts the delta rows not merged yet.
func (s *Store) PendingRollupDeltas(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM rollup_delta").Scan(&n); err != nil {
		return 0, mapErr("count rollup deltas", err)
	}
	return n, nil
}

// merger merges deltas every Options.MergeInterval until Close, which does
// not wait for a backlog: the merge stops between (or rolls back within)
// its transactions.
func (s *Store) merger() {
	defer s.workers.Done()
	s.every(s.opts.MergeInterval, func() {
		ctx, cancel := s.untilClosed(5 * time.Minute)
		defer cancel()
		if _, err := s.MergeRollups(ctx); err != nil && !s.isClosed() {
			s.log.Error("merge rollups failed; queries still include the deltas", "err", err)
		}
	})
}

// deltaAggs returns, per metric, the aggregates n, sum, min and max of
// rollup_delta rows, which leave NULL what follows from their other columns
// (migration 0019): n when it equals count, sum when n is 0, min and max
// when n is at most 1 (then both are the sum). Rows written before 0019
// hold n and sum always (0 when n is 0) and min and max when n > 0: the sum
// stands in for a missing min or max only where n is not 0, so they read
// the same.
func deltaAggs(metrics []string) []string {
	var out []string
	for _, m := range metrics {
		one := fmt.Sprintf("CASE WHEN %[1]s_n = 0 THEN NULL ELSE %[1]s_sum END", m) // n NULL: n = count > 0
		out = append(out, fmt.Sprintf("sum(coalesce(%[1]s_n, count))::bigint", m), fmt.Sprintf("coalesce(sum(%[1]s_sum), 0)", m),
			fmt.Sprintf("min(coalesce(%[1]s_min, %[2]s))", m, one), fmt.Sprintf("max(coalesce(%[1]s_max, %[2]s))", m, one))
	}
	return out
}

// bucketSQL returns the statement of a bucketed query: the rollup rows of
// the range ($2 <= bucket_start < $3, at most $4) and, aggregated to the
// same buckets, the deltas of that range ($2 <= minute < $5, the end rounded
// up to a bucket), both as (bucket_start, count, then n, sum, min, max per
// metric). One statement: one snapshot, so a merge that commits meanwhile
// is seen entirely or not at all.
func bucketSQL(ru rollup, ms []vibemon.Metric) string {
	cols := make([]string, 0, 4*len(ms))
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		n := m.String()
		cols = append(cols, n+"_n", n+"_sum", n+"_min", n+"_max")
		names = append(names, n)
	}
	aggs := deltaAggs(names)
	return fmt.Sprintf(`(SELECT bucket_start, count, %s FROM %s
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start LIMIT $4)
UNION ALL
(SELECT date_bin('%s', bucket_start, timestamptz 'epoch') AS b, sum(count)::bigint, %s FROM rollup_delta
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $5 GROUP BY b)`,
		strings.Join(cols, ", "), ru.table, ru.width, strings.Join(aggs, ", "))
}

// aggRow is one bucket's sums as stored: count, and per metric n, sum, min
// and max (NaN for NULL).
type aggRow struct {
	ts    time.Time
	count int64
	n     []int64
	v     []float64 // sum, min, max of each metric: v[3*i], v[3*i+1], v[3*i+2]
}

// add merges o, a row of the same bucket, into r.
func (r *aggRow) add(o *aggRow) {
	r.count += o.count
	for i := range r.n {
		r.n[i] += o.n[i]
		r.v[3*i] += o.v[3*i]
		r.v[3*i+1] = nanMin(r.v[3*i+1], o.v[3*i+1])
		r.v[3*i+2] = nanMax(r.v[3*i+2], o.v[3*i+2])
	}
}

// nanMin and nanMax treat NaN as missing, as SQL's least and greatest treat
// NULL.
func nanMin(a, b float64) float64 {
	if math.IsNaN(a) || b < a {
		return b
	}
	return a
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

func (s *Store) queryBuckets(ctx context.Context, orgID int64, q vibemon.ReadingQuery, ms []vibemon.Metric, limit *int64) ([]vibemon.Point, error) {
	var ru rollup
	for _, r := range rollups {
		if r.bucket == q.Bucket {
			ru = r
		}
	}
	w := q.Bucket.Duration()
	from := q.From.Truncate(w) // UTC-aligned: Go's zero time is a UTC midnight
	end := q.To.Truncate(w)    // deltas of the bucket q.To falls in count when it starts before q.To
	if end.Before(q.To) {
		end = end.Add(w)
	}
	b := &pgx.Batch{}
	var ok bool
	b.Queue(deviceOfOrgSQL, orgID, q.DeviceID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&ok)
	})
	var rows []aggRow
	b.Queue(bucketSQL(ru, ms), q.DeviceID, from, q.To, limit, end).Query(func(r pgx.Rows) error {
		return scanAgg(r, len(ms), &rows)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapErr("query readings", err)
	}
	if !ok {
		return nil, mapErr("query readings", notFound("Device"))
	}
	// Rollup rows come first, in order; delta buckets follow. Sorting is
	// stable, so a bucket's rows stay adjacent for the merge below.
	if !slices.IsSortedFunc(rows, cmpAgg) {
		slices.SortStableFunc(rows, cmpAgg)
	}
	pts := make([]vibemon.Point, 0, len(rows))
	nm := len(ms)
	for i := 0; i < len(rows); {
		r := &rows[i]
		j := i + 1
		for ; j < len(rows) && rows[j].ts.Equal(r.ts); j++ {
			r.add(&rows[j])
		}
		i = j
		if limit != nil && int64(len(pts)) == *limit {
			break
		}
		// One allocation for avg, min and max; the sums become averages.
		vals := make([]float64, 3*nm)
		for k := 0; k < nm; k++ {
			avg := math.NaN()
			if r.n[k] > 0 {
				avg = r.v[3*k] / float64(r.n[k])
			}
			vals[k], vals[nm+k], vals[2*nm+k] = avg, r.v[3*k+1], r.v[3*k+2]
		}
		pts = append(pts, vibemon.Point{TS: r.ts, Count: r.count, Avg: vals[:nm:nm], Min: vals[nm : 2*nm : 2*nm], Max: vals[2*nm:]})
	}
	return pts, nil
}

func cmpAgg(a, b aggRow) int { return a.ts.Compare(b.ts) }

// scanAgg reads rows of bucketSQL's shape, from the binary values directly
// when every column arrived in binary (see the scanners in reading.go).
func scanAgg(rows pgx.Rows, nm int, out *[]aggRow) error {
	if !allBinary(rows) {
		return scanAggGeneric(rows, nm, out)
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 2+4*nm {
			return errBadBinary
		}
		var r aggRow
		var ok1, ok2 bool
		r.ts, ok1 = binTime(v[0])
		r.count, ok2 = binInt(v[1])
		if !ok1 || !ok2 {
			return errBadBinary
		}
		r.n, r.v = make([]int64, nm), make([]float64, 3*nm)
		for k := 0; k < nm; k++ {
			var ok bool
			if r.n[k], ok = binInt(v[2+4*k]); !ok {
				return errBadBinary
			}
			for j := 0; j < 3; j++ {
				if r.v[3*k+j], ok = binFloat(v[3+4*k+j]); !ok {
					return errBadBinary
				}
			}
		}
		*out = append(*out, r)
	}
	return rows.Err()
}

func scanAggGeneric(rows pgx.Rows, nm int, out *[]aggRow) error {
	for rows.Next() {
		r := aggRow{n: make([]int64, nm), v: make([]float64, 3*nm)}
		fs := make([]*float64, 3*nm)
		dst := []any{&r.ts, &r.count}
		for k := 0; k < nm; k++ {
			dst = append(dst, &r.n[k], &fs[3*k], &fs[3*k+1], &fs[3*k+2])
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.ts = r.ts.UTC()
		for i, f := range fs {
			r.v[i] = nullNaN(f)
		}
		*out = append(*out, r)
	}
	return rows.Err()
}
