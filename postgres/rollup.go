package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibemon/vibemon"
)

// Rollups off the ingest path (migrations 0013 and 0020, docs/postgres.md
// "Rollups").
//
// A reading is rolled up one of two ways, decided when it is stored from
// its ts, the watermark's ingest_from (rollup_watermark) and its group:
//
//   - current (ts >= ingest_from, in a (device, minute) of fewer than
//     rawGroupMax new readings of the batch: nearly every live reading
//     from small POSTs): it is marked raw_rollup and writes nothing else.
//     The merge adds the marked readings of [materialized_to, ingest_from)
//     to rollup_1m, rollup_1h and rollup_1d and moves materialized_to up
//     in the same statement; a bucketed query aggregates the device's
//     marked readings at or after materialized_to itself.
//   - otherwise (late: ts < ingest_from, a gateway's backlog, an import; or
//     a dense group, which a delta row aggregates well): ingest appends
//     what the batch adds to each (device, minute) to rollup_delta (no
//     unique key, so no row locks); the merge moves deltas into the rollups,
//     deleting them in the same statement, and queries add the deltas not
//     merged yet.
//
// So at any snapshot each reading is counted once: in the rollups, in an
// unmerged delta, or among the marked readings at or after materialized_to.
// What makes this hold while ingest runs is the order in which the merge
// raises the watermark: it moves ingest_from up (to now - rollupLag) in a
// new epoch, then waits for every ingest transaction that read an older
// epoch (they hold that epoch's advisory lock in shared mode until they
// end, lockEpochSQL), and only then, in a snapshot that sees all of them,
// rolls up the marked readings below the new ingest_from. A transaction
// that reads the new epoch marks only readings at or after the new
// ingest_from, which the merge leaves for the next time.

// DefaultMergeInterval is how often a Store merges rollup deltas by itself
// when Options.MergeInterval is zero.
const DefaultMergeInterval = 5 * time.Second

// rollupLag is how far behind now the merge moves ingest_from: readings up
// to this old when they arrive are current (no delta). Queries aggregate
// the marked readings after materialized_to themselves, about rollupLag
// plus a merge interval of each device's readings.
const rollupLag = time.Minute

// mergeLimit is the most delta rows one merge statement moves; the span of
// marked readings it rolls up is sized to about rawTarget readings (from
// what the store's previous statements found: it doubles while they find
// fewer than half, halves while more than twice, between rawChunkMin and
// rawChunkMax). MergeRollups repeats until both are done, so a backlog
// (the merge was stopped for a while) is worked off in bounded
// transactions.
const (
	mergeLimit  = 20000
	rawTarget   = 200000
	rawChunkMin = time.Minute
	rawChunkMax = 24 * time.Hour
)

// mergeSQL moves up to $1 delta rows and the marked readings of [$2, $3)
// into the three rollup tables, sets materialized_to to $3, and returns how
// many delta rows and marked readings it rolled up. Delta rows
// another merge has locked are skipped, and each table's rows are upserted
// in key order (two merges never wait on each other in a cycle). Rows of a
// device deleted in the meantime are dropped: its row is share-locked, so a
// DeleteDevice waits for this merge and then deletes the rows it wrote, or
// went first and the join drops them.
var mergeSQL = func() string {
	var sums, sets, raw []string
	for _, m := range metricCols() {
		sums = append(sums, fmt.Sprintf("sum(%[1]s_n)::bigint AS %[1]s_n, sum(%[1]s_sum) AS %[1]s_sum, min(%[1]s_min) AS %[1]s_min, max(%[1]s_max) AS %[1]s_max", m))
		sets = append(sets,
			fmt.Sprintf("%[1]s_n = t.%[1]s_n + excluded.%[1]s_n", m),
			fmt.Sprintf("%[1]s_sum = t.%[1]s_sum + excluded.%[1]s_sum", m),
			fmt.Sprintf("%[1]s_min = least(t.%[1]s_min, excluded.%[1]s_min)", m),
			fmt.Sprintf("%[1]s_max = greatest(t.%[1]s_max, excluded.%[1]s_max)", m))
		raw = append(raw, fmt.Sprintf("count(x.%[1]s) AS %[1]s_n, coalesce(sum(x.%[1]s), 0) AS %[1]s_sum, min(x.%[1]s) AS %[1]s_min, max(x.%[1]s) AS %[1]s_max", m))
	}
	cols := "device_id, " + strings.Join(aggCols(), ", ")
	// The sums of rows named as rollup rows' columns: m1 sums the deltas and
	// the marked readings per minute with them, each upsert m1 to its width.
	sum := "sum(count)::bigint AS count, " + strings.Join(sums, ", ")
	set := "count = t.count + excluded.count, " + strings.Join(sets, ", ")
	// dm is the deltas summed per (device, minute), named as rollup_delta's
	// columns. A delta row leaves out what follows from its other columns
	// (migration 0019, copyDeltas): read it back with deltaAggs. r is the
	// marked readings of the window per (device, minute), found through
	// each device's (device_id, ts) index; m1, the one pass over both,
	// is what the three upserts read, each summing it to its own width
	// (rollup_1m: already there).
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
), dm AS (
	SELECT device_id, bucket_start, ` + strings.Join(named, ", ") + `
	FROM d GROUP BY device_id, bucket_start
), r AS (
	SELECT x.device_id, date_bin('1 minute', x.ts, timestamptz 'epoch') AS bucket_start, count(*) AS count, ` + strings.Join(raw, ", ") + `
	FROM devices dv CROSS JOIN LATERAL (SELECT * FROM readings
		WHERE device_id = dv.id AND ts >= $2 AND ts < $3 AND raw_rollup) x
	GROUP BY 1, 2
), live AS (
	SELECT id FROM devices WHERE id IN (SELECT device_id FROM d UNION SELECT device_id FROM r) FOR KEY SHARE
), m1 AS MATERIALIZED (
	SELECT u.device_id, u.bucket_start, ` + sum + `
	FROM (SELECT * FROM dm UNION ALL SELECT * FROM r) u JOIN live ON live.id = u.device_id
	GROUP BY u.device_id, u.bucket_start
), w AS (
	UPDATE rollup_watermark SET materialized_to = $3 WHERE materialized_to < $3
), ` + strings.Join(ups, ", ") + `
SELECT (SELECT count(*) FROM d), (SELECT coalesce(sum(count), 0)::bigint FROM r)`
}()

// firstMarkedSQL finds the first marked reading in [$1, $2), through each
// device's (device_id, ts) index.
const firstMarkedSQL = `SELECT min(f.ts) FROM devices dv CROSS JOIN LATERAL (SELECT ts FROM readings
	WHERE device_id = dv.id AND ts >= $1 AND ts < $2 AND raw_rollup ORDER BY ts LIMIT 1) f`

// mergeLockKey is the second key of the session advisory lock that lets
// one merge at a time move the watermark (epochs use 0 and up).
const mergeLockKey = -1

// MergeRollups rolls up what ingest left for later (see above): it moves
// ingest_from up to now - rollupLag, waits for the ingest transactions
// that read an older one, and then, in transactions of at most mergeLimit
// delta rows and rawChunk of marked readings, moves deltas and marked
// readings into the rollup tables, until fewer deltas than mergeLimit
// were left (so deltas that keep arriving meanwhile are merged too). It
// returns how many delta rows it moved. While ReorderRollups rewrites a
// month (rollup_layout.go) a merge waits for it (it locks rollup_1h first,
// so the two do not deadlock; a transaction that loses a deadlock would be
// run again, s.tx). Merges of several replicas take turns; queries give
// the same answers before and after.
func (s *Store) MergeRollups(ctx context.Context) (int64, error) {
	n, _, err := s.mergeRollups(ctx, s.now().Add(-rollupLag), true)
	return n, err
}

// TryMergeRollups is MergeRollups unless a merge (of this replica or
// another) is running, in which case it returns 0 at once: that merge does
// the work, and the next periodic one takes what arrives meanwhile. The
// periodic merges (River's merge_rollups job, the store's own timer) use
// it, so that a merge held up (by a monthly rewrite, a slow disk) does not
// gather a queue of others behind it, each holding a connection.
func (s *Store) TryMergeRollups(ctx context.Context) (int64, error) {
	n, _, err := s.mergeRollups(ctx, s.now().Add(-rollupLag), false)
	return n, err
}

// MergeRollupsBefore is MergeRollups with ingest_from moved up to t rather
// than to now - rollupLag, so that every reading stored so far before t is
// in the rollup tables when it returns (readings of [t, ...) stay with the
// queries). It returns how many delta rows and how many readings of the
// table it rolled up. For measurements (vibemon bench) and retention; a
// t in the future makes readings stored later with an older ts late
// (rolled up through deltas), which is correct but costs more.
func (s *Store) MergeRollupsBefore(ctx context.Context, t time.Time) (deltas, readings int64, err error) {
	return s.mergeRollups(ctx, t, true)
}

// mergeRollups moves ingest_from up to until and rolls up what is below it
// (see MergeRollups). Without wait it returns 0 when another merge holds
// the merge lock.
func (s *Store) mergeRollups(ctx context.Context, until time.Time, wait bool) (total, rawTotal int64, err error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, 0, mapErr("merge rollups", err)
	}
	defer c.Release()
	lock := "SELECT pg_advisory_lock($1::int4, $2::int4), true"
	if !wait {
		lock = "SELECT NULL, pg_try_advisory_lock($1::int4, $2::int4)"
	}
	var got bool
	if err := c.QueryRow(ctx, lock, s.epochClass, mergeLockKey).Scan(nil, &got); err != nil {
		// Cancelled while waiting, the lock may have been granted all the
		// same: this connection must not go back to the pool holding it.
		c.Conn().Close(context.Background())
		return 0, 0, mapErr("merge rollups", err)
	}
	if !got {
		return 0, 0, nil
	}
	defer s.unlockMerge(c)
	if s.caggs.Load() {
		// The continuous aggregates' refresh, then the merge of the
		// deltas of readings stored older than their org's retention
		// cutoff (see plan).
		if err := s.refreshAggregates(ctx, until); err != nil {
			return 0, 0, err
		}
	}
	var epoch, waited int64
	var from, to time.Time
	if err := c.QueryRow(ctx, `WITH up AS (
		UPDATE rollup_watermark SET epoch = epoch + 1, ingest_from = $1 WHERE ingest_from < $1 RETURNING epoch, waited, ingest_from, materialized_to)
		SELECT * FROM up UNION ALL SELECT epoch, waited, ingest_from, materialized_to FROM rollup_watermark WHERE NOT EXISTS (SELECT FROM up)`,
		until).Scan(&epoch, &waited, &from, &to); err != nil {
		return 0, 0, mapErr("merge rollups", err)
	}
	// This store's next ingest transactions lock the new epoch at once,
	// rather than queue behind the wait below for the old one.
	s.sawWatermark(epoch, from)
	// Wait for the ingest transactions of the epochs before this one, a
	// few dozen locks per transaction (each is released at its commit). A
	// transaction that locks an old epoch later reads the new one and
	// locks that too, so it does not matter that the lock is let go.
	for waited < epoch-1 {
		upTo := min(waited+64, epoch-1)
		if err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int4, (e % 2147483647)::int4) FROM generate_series($2::bigint, $3::bigint) e",
				s.epochClass, waited+1, upTo); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE rollup_watermark SET waited = $1", upTo)
			return err
		}); err != nil {
			return 0, 0, mapErr("merge rollups", err)
		}
		waited = upTo
	}
	chunk := time.Duration(s.rawChunk.Load())
	for lo := to; ; {
		hi := from
		full := false
		if hi.Sub(lo) > chunk {
			// A long window (the merge was stopped, or a test set the
			// watermark back): begin the chunk at its first marked reading.
			var first *time.Time
			if err := c.QueryRow(ctx, firstMarkedSQL, lo, from).Scan(&first); err != nil {
				return total, rawTotal, mapErr("merge rollups", err)
			}
			if first == nil {
				first = &from
			}
			if hi = first.Add(chunk); hi.Before(from) {
				full = true
			} else {
				hi = from
			}
		}
		var n, rows int64
		// On the connection that holds the merge lock: one merge takes one
		// connection of the pool.
		if err := s.retrying("merge rollups", func() error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, mergeSQL, mergeLimit, lo, hi).Scan(&n, &rows)
			})
		}); err != nil {
			return total, rawTotal, mapErr("merge rollups", err)
		}
		total += n
		rawTotal += rows
		s.sawMaterialized(hi)
		switch {
		case full && rows < rawTarget/2:
			chunk = min(2*chunk, rawChunkMax)
		case rows > 2*rawTarget:
			chunk = max(chunk/2, rawChunkMin)
		}
		s.rawChunk.Store(int64(chunk))
		lo = hi
		if !lo.Before(from) && n < mergeLimit {
			return total, rawTotal, nil
		}
	}
}

// unlockMerge lets go of the merge lock held by c's session; a connection
// that could not unlock is closed, which unlocks.
func (s *Store) unlockMerge(c *pgxpool.Conn) {
	uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Exec(uctx, "SELECT pg_advisory_unlock($1::int4, $2::int4)", s.epochClass, mergeLockKey); err != nil {
		c.Conn().Close(uctx)
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

// deviceOfOrgWatermarkSQL is deviceOfOrgSQL with the watermark's
// materialized_to (see materialized).
const deviceOfOrgWatermarkSQL = "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2), (SELECT materialized_to FROM rollup_watermark)"

// materialized returns the latest materialized_to this store has seen.
func (s *Store) materialized() time.Time { return time.UnixMicro(s.matSeen.Load()).UTC() }

// sawMaterialized records a materialized_to read from the database.
func (s *Store) sawMaterialized(t time.Time) {
	for v := t.UnixMicro(); ; {
		old := s.matSeen.Load()
		if v <= old || s.matSeen.CompareAndSwap(old, v) {
			return
		}
	}
}

// queueWatermark queues, for an ingest transaction, the shared lock of
// epoch guess and the read of the watermark's epoch and ingest_from. When
// the epoch read is guess, a merge that raises ingest_from later waits for
// this transaction; otherwise the caller locks the epoch read and reads
// again.
func (s *Store) queueWatermark(b *pgx.Batch, guess int64, epoch *int64, from *time.Time) {
	b.Queue(lockEpochSQL, s.epochClass, guess)
	b.Queue(readWatermarkSQL).QueryRow(func(row pgx.Row) error { return row.Scan(epoch, from) })
}

// merger merges deltas every Options.MergeInterval until Close, which does
// not wait for a backlog: the merge stops between (or rolls back within)
// its transactions.
func (s *Store) merger() {
	defer s.workers.Done()
	s.every(s.opts.MergeInterval, func() {
		if s.opts.BulkLoad && s.caggs.Load() {
			return // refreshed once, at the end of the load
		}
		ctx, cancel := s.untilClosed(5 * time.Minute)
		defer cancel()
		if _, err := s.TryMergeRollups(ctx); err != nil && !s.isClosed() {
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
// up to a bucket) and the marked readings not rolled up yet ($2 <= ts < $5,
// ts >= materialized_to), all as (bucket_start, count, then n, sum, min,
// max per metric). One statement: one snapshot, so a merge that commits
// meanwhile is seen entirely or not at all. $6 is a materialized_to this
// store has seen (it only moves up, so it is at most the current one): as
// a parameter it lets the planner leave out every partition of readings
// before it, so a query of older data plans and reads no readings at all.
func bucketSQL(ru rollup, ms []vibemon.Metric) string {
	cols := make([]string, 0, 4*len(ms))
	names := make([]string, 0, len(ms))
	raw := make([]string, 0, len(ms))
	for _, m := range ms {
		n := m.String()
		cols = append(cols, n+"_n", n+"_sum", n+"_min", n+"_max")
		names = append(names, n)
		raw = append(raw, fmt.Sprintf("count(%[1]s), coalesce(sum(%[1]s), 0), min(%[1]s), max(%[1]s)", n))
	}
	aggs := deltaAggs(names)
	return fmt.Sprintf(`(SELECT bucket_start, count, %[1]s FROM %[2]s
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start LIMIT $4)
UNION ALL
(SELECT date_bin('%[3]s', bucket_start, timestamptz 'epoch') AS b, sum(count)::bigint, %[4]s FROM rollup_delta
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $5 GROUP BY b)
UNION ALL
(SELECT date_bin('%[3]s', ts, timestamptz 'epoch') AS b, count(*), %[5]s FROM readings
	WHERE device_id = $1 AND ts >= greatest($2, $6::timestamptz) AND ts >= (SELECT materialized_to FROM rollup_watermark)
	AND ts < $5 AND raw_rollup GROUP BY b)`,
		strings.Join(cols, ", "), ru.table, ru.width, strings.Join(aggs, ", "), strings.Join(raw, ", "))
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
	level := 0
	for i, r := range rollups {
		if r.bucket == q.Bucket {
			ru, level = r, i
		}
	}
	w := q.Bucket.Duration()
	from := q.From.Truncate(w) // UTC-aligned: Go's zero time is a UTC midnight
	end := q.To.Truncate(w)    // deltas of the bucket q.To falls in count when it starts before q.To
	if end.Before(q.To) {
		end = end.Add(w)
	}
	var ok bool
	var rows []aggRow
	if s.caggs.Load() {
		b := &pgx.Batch{}
		b.Queue(deviceOfOrgSQL, orgID, q.DeviceID).QueryRow(func(row pgx.Row) error { return row.Scan(&ok) })
		b.Queue(caggBucketSQL(level, orgID, ms), q.DeviceID, from, q.To, limit, end).Query(func(r pgx.Rows) error {
			return scanAgg(r, len(ms), &rows)
		})
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil && ok {
			return nil, mapErr("query readings", err)
		}
	} else {
		for {
			b := &pgx.Batch{}
			var mat time.Time
			b.Queue(deviceOfOrgWatermarkSQL, orgID, q.DeviceID).QueryRow(func(row pgx.Row) error {
				return row.Scan(&ok, &mat)
			})
			seen := s.materialized()
			rows = rows[:0]
			b.Queue(bucketSQL(ru, ms), q.DeviceID, from, q.To, limit, end, seen).Query(func(r pgx.Rows) error {
				return scanAgg(r, len(ms), &rows)
			})
			if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
				return nil, mapErr("query readings", err)
			}
			if !mat.Before(seen) {
				s.sawMaterialized(mat)
				break
			}
			// The watermark went back (a restored database, a test): the query
			// may have left out readings after it; ask again from there.
			s.matSeen.Store(mat.UnixMicro())
		}
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
