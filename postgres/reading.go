package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// rollup is one resolution of pre-aggregated readings.
type rollup struct {
	table  string
	bucket vibemon.Bucket
	width  string // PostgreSQL interval
}

var rollups = [3]rollup{
	{"rollup_1m", vibemon.BucketMinute, "1 minute"},
	{"rollup_1h", vibemon.BucketHour, "1 hour"},
	{"rollup_1d", vibemon.BucketDay, "1 day"},
}

func metricCols() []string {
	cols := make([]string, vibemon.NumMetrics)
	for i := range cols {
		cols[i] = vibemon.Metric(i).String()
	}
	return cols
}

// stageCols are the columns of the per-connection staging table, in COPY
// order: idx is the reading's position in its InsertReadings call.
var stageCols = append([]string{"idx", "device_id", "seq", "ts"}, metricCols()...)

// createStageSQL makes the staging table of one connection. It is
// temporary (invisible to other sessions, never WAL-logged) and emptied at
// every commit, so it is created once per connection and reused.
func createStageSQL() string {
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE IF NOT EXISTS reading_stage (idx integer NOT NULL, device_id bigint NOT NULL, seq bigint NOT NULL, ts timestamptz NOT NULL")
	for _, m := range metricCols() {
		b.WriteString(", " + m + " double precision")
	}
	b.WriteString(") ON COMMIT DELETE ROWS")
	return b.String()
}

// ingestSQL is the statement that moves a staged batch into place: it
// claims the (device_id, seq) keys that are new, inserts those readings,
// adds them to the three rollups and moves the devices' last-seen state,
// and returns the staging idx of each new reading. Rollup rows are written
// once per statement, in key order.
func ingestSQL() string {
	ms := metricCols()
	mlist := strings.Join(ms, ", ")
	var b strings.Builder
	b.WriteString(`WITH new AS (
	INSERT INTO reading_keys (device_id, seq, ts)
	SELECT DISTINCT ON (device_id, seq) device_id, seq, ts FROM pg_temp.reading_stage ORDER BY device_id, seq, idx
	ON CONFLICT DO NOTHING RETURNING device_id, seq
), fresh AS (
	SELECT DISTINCT ON (s.device_id, s.seq) s.* FROM pg_temp.reading_stage s JOIN new USING (device_id, seq)
	ORDER BY s.device_id, s.seq, s.idx
), ins AS (
	INSERT INTO readings (device_id, seq, ts, ` + mlist + `) SELECT device_id, seq, ts, ` + mlist + ` FROM fresh ORDER BY device_id, ts
), agg AS (
	SELECT device_id, date_bin('1 minute', ts, timestamptz 'epoch') AS b, count(*) AS c`)
	for _, m := range ms {
		fmt.Fprintf(&b, ", count(%[1]s) AS %[1]s_n, coalesce(sum(%[1]s), 0) AS %[1]s_sum, min(%[1]s) AS %[1]s_min, max(%[1]s) AS %[1]s_max", m)
	}
	b.WriteString(" FROM fresh GROUP BY 1, 2\n)")
	for i, ru := range rollups {
		cols := []string{"device_id", "bucket_start", "count"}
		sets := []string{"count = t.count + excluded.count"}
		sel := []string{"device_id"}
		if i == 0 {
			sel = append(sel, "b", "c")
		} else {
			sel = append(sel, fmt.Sprintf("date_bin('%s', b, timestamptz 'epoch')", ru.width), "sum(c)::bigint")
		}
		for _, m := range ms {
			cols = append(cols, m+"_n", m+"_sum", m+"_min", m+"_max")
			sets = append(sets,
				fmt.Sprintf("%[1]s_n = t.%[1]s_n + excluded.%[1]s_n", m),
				fmt.Sprintf("%[1]s_sum = t.%[1]s_sum + excluded.%[1]s_sum", m),
				fmt.Sprintf("%[1]s_min = least(t.%[1]s_min, excluded.%[1]s_min)", m),
				fmt.Sprintf("%[1]s_max = greatest(t.%[1]s_max, excluded.%[1]s_max)", m))
			if i == 0 {
				sel = append(sel, m+"_n", m+"_sum", m+"_min", m+"_max")
			} else {
				sel = append(sel, fmt.Sprintf("sum(%[1]s_n)::bigint, sum(%[1]s_sum), min(%[1]s_min), max(%[1]s_max)", m))
			}
		}
		group := ""
		if i > 0 {
			group = " GROUP BY 1, 2"
		}
		fmt.Fprintf(&b, `, %s AS (
	INSERT INTO %s AS t (%s)
	SELECT %s FROM agg%s ORDER BY 1, 2
	ON CONFLICT (device_id, bucket_start) DO UPDATE SET %s
)`, "up_"+ru.table, ru.table, strings.Join(cols, ", "), strings.Join(sel, ", "), group, strings.Join(sets, ", "))
	}
	b.WriteString(`, dev AS (
	UPDATE devices d SET
		battery_v = CASE WHEN x.batt_ts IS NOT NULL AND x.batt_ts >= coalesce(d.last_seen_at, '-infinity') THEN x.batt ELSE d.battery_v END,
		last_seen_at = greatest(d.last_seen_at, x.last_ts)
	FROM (SELECT device_id, max(ts) AS last_ts, max(ts) FILTER (WHERE battery_v IS NOT NULL) AS batt_ts,
		(array_agg(battery_v ORDER BY ts DESC) FILTER (WHERE battery_v IS NOT NULL))[1] AS batt
		FROM fresh GROUP BY device_id) x
	WHERE d.id = x.device_id
)
SELECT idx FROM fresh`)
	return b.String()
}

var (
	stageSQL  = createStageSQL()
	ingestStm = ingestSQL()
)

// stageSource feeds one call's readings to COPY, reusing one row buffer.
// Without skipIdx the first column is the reading's index in the call.
type stageSource struct {
	rs      []vibemon.Reading
	i       int
	row     []any
	skipIdx bool
}

func (s *stageSource) Next() bool { s.i++; return s.i <= len(s.rs) }

func (s *stageSource) Values() ([]any, error) {
	r := &s.rs[s.i-1]
	if s.row == nil {
		s.row = make([]any, 4+vibemon.NumMetrics)
	}
	s.row[0], s.row[1], s.row[2], s.row[3] = int32(s.i-1), r.DeviceID, r.Seq, r.TS
	for m, v := range r.Values {
		if math.IsNaN(v) {
			s.row[4+m] = nil
		} else {
			s.row[4+m] = v
		}
	}
	if s.skipIdx {
		return s.row[1:], nil
	}
	return s.row, nil
}

func (s *stageSource) Err() error { return nil }

// IngestStats counts the ingest path's work since Open.
type IngestStats struct {
	Calls        int64 // InsertReadings calls that reached the database
	Transactions int64 // ingest transactions committed
	Readings     int64 // readings received
	New          int64 // readings that were new
}

type ingestCounters struct {
	calls, txs, readings, fresh atomic.Int64
}

// IngestStats returns the ingest counters.
func (s *Store) IngestStats() IngestStats {
	return IngestStats{Calls: s.ing.calls.Load(), Transactions: s.ing.txs.Load(), Readings: s.ing.readings.Load(), New: s.ing.fresh.Load()}
}

// ingestReq is one InsertReadings call on its way through a transaction.
type ingestReq struct {
	ctx   context.Context
	orgID int64
	rs    []vibemon.Reading
	res   chan struct{} // closed when isNew or err is set
	isNew []bool
	err   error
}

// multiSource feeds the readings of several calls to COPY, numbering them
// with one idx across the calls.
type multiSource struct {
	reqs []*ingestReq
	r, i int // current call and reading
	idx  int32
	row  []any
}

func (m *multiSource) Next() bool {
	for m.r < len(m.reqs) {
		if m.i < len(m.reqs[m.r].rs) {
			m.i++
			m.idx++
			return true
		}
		m.r, m.i = m.r+1, 0
	}
	return false
}

func (m *multiSource) Values() ([]any, error) {
	r := &m.reqs[m.r].rs[m.i-1]
	if m.row == nil {
		m.row = make([]any, 4+vibemon.NumMetrics)
	}
	m.row[0], m.row[1], m.row[2], m.row[3] = m.idx-1, r.DeviceID, r.Seq, r.TS
	for k, v := range r.Values {
		if math.IsNaN(v) {
			m.row[4+k] = nil
		} else {
			m.row[4+k] = v
		}
	}
	return m.row, nil
}

func (m *multiSource) Err() error { return nil }

// ingest runs reqs in one transaction and sets each one's isNew or err. It
// locks every device of the batch in id order (so concurrent transactions
// never deadlock, and a concurrent DeleteDevice waits), rejects the calls
// that name another org's device, COPYs the rest into the connection's
// staging table and runs ingestStm. When the transaction fails, every call
// that was in it gets the error and nothing of any of them is stored.
func (s *Store) ingest(ctx context.Context, reqs []*ingestReq) {
	var devs []int64
	for _, r := range reqs {
		for i := range r.rs {
			devs = append(devs, r.rs[i].DeviceID)
		}
	}
	slices.Sort(devs)
	devs = slices.Compact(devs)
	var live []*ingestReq
	err := s.tx(ctx, "insert readings", func(tx pgx.Tx) error {
		live = live[:0]
		rows, err := tx.Query(ctx, "SELECT id, org_id FROM devices WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE", devs)
		if err != nil {
			return err
		}
		orgOf := make(map[int64]int64, len(devs))
		var id, org int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &org}, func() error { orgOf[id] = org; return nil }); err != nil {
			return err
		}
		for _, r := range reqs {
			r.err, r.isNew = nil, nil
			for i := range r.rs {
				if d := r.rs[i].DeviceID; orgOf[d] != r.orgID {
					r.err = fmt.Errorf("insert readings: %w", vibemon.Errorf(vibemon.ENOTFOUND, "device %d is not a device of this organization.", d))
					break
				}
			}
			if r.err == nil {
				live = append(live, r)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "reading_stage"}, stageCols, &multiSource{reqs: live}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, ingestStm)
		if err != nil {
			return err
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, r := range live {
			r.isNew = make([]bool, len(r.rs))
		}
		slices.Sort(fresh)
		r, off := 0, 0
		for _, i := range fresh {
			for int(i) >= off+len(live[r].rs) {
				off += len(live[r].rs)
				r++
			}
			live[r].isNew[int(i)-off] = true
		}
		return nil
	})
	if err != nil {
		if vibemon.ErrorCode(err) == vibemon.EINTERNAL {
			s.log.Error("insert readings failed", "calls", len(reqs), "err", err)
		}
		for _, r := range reqs {
			if r.err == nil || slices.Contains(live, r) {
				r.err, r.isNew = err, nil
			}
		}
		return
	}
	s.ing.txs.Add(1)
	s.ing.calls.Add(int64(len(reqs)))
	for _, r := range live {
		s.ing.readings.Add(int64(len(r.rs)))
		for _, b := range r.isNew {
			if b {
				s.ing.fresh.Add(1)
			}
		}
	}
}

// InsertReadings stores the readings that are new and reports which were.
// Concurrent calls are coalesced (up to Options.MaxBatch readings) into one
// transaction that COPYs them into a staging table, then in one statement
// claims the new (device, seq) keys, inserts their readings, updates the
// rollups and the devices' last-seen state. When it returns nil all of that
// is committed; on error nothing of the call is stored. ENOTFOUND when a
// reading's device is not the org's (only this call fails). Of a (device,
// seq) repeated within the call, or across coalesced calls, the first is
// the new one.
func (s *Store) InsertReadings(ctx context.Context, orgID int64, readings []vibemon.Reading) ([]bool, error) {
	if len(readings) == 0 {
		return []bool{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("insert readings: %w", err)
	}
	if s.isClosed() {
		return nil, fmt.Errorf("insert readings: %w", errClosed)
	}
	req := &ingestReq{ctx: ctx, orgID: orgID, rs: readings, res: make(chan struct{})}
	if s.opts.MaxBatch < 0 {
		s.ingest(ctx, []*ingestReq{req})
		return req.isNew, req.err
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("insert readings: %w", ctx.Err())
	case <-s.closed:
		return nil, fmt.Errorf("insert readings: %w", errClosed)
	}
	select {
	case <-req.res:
		return req.isNew, req.err
	case <-ctx.Done():
		// The transaction may still commit the readings; a retry finds them
		// duplicates, which is what idempotent ingest is for.
		return nil, fmt.Errorf("insert readings: %w", ctx.Err())
	case <-s.stopped:
		select {
		case <-req.res:
			return req.isNew, req.err
		default:
			return nil, fmt.Errorf("insert readings: %w", errClosed)
		}
	}
}

// ingestWorker takes the first queued call, drains whatever else is queued
// (up to MaxBatch readings) and runs them in one transaction, until Close.
func (s *Store) ingestWorker() {
	defer s.workers.Done()
	var carry *ingestReq
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.reqs:
			case <-s.closed:
				return
			}
		}
		batch := []*ingestReq{first}
		n := len(first.rs)
	drain:
		for n < s.opts.MaxBatch {
			select {
			case r := <-s.reqs:
				if n+len(r.rs) > s.opts.MaxBatch {
					carry = r
					break drain
				}
				batch = append(batch, r)
				n += len(r.rs)
			default:
				break drain
			}
		}
		var run []*ingestReq
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.err = fmt.Errorf("insert readings: %w", err)
				close(r.res)
				continue
			}
			run = append(run, r)
		}
		if len(run) > 0 {
			// Not a caller's context: one caller giving up must not fail
			// the others' transaction.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			s.ingest(ctx, run)
			cancel()
			for _, r := range run {
				close(r.res)
			}
		}
	}
}

// failQueued answers the calls still queued at Close.
func (s *Store) failQueued() {
	for {
		select {
		case r := <-s.reqs:
			r.err = fmt.Errorf("insert readings: %w", errClosed)
			close(r.res)
		default:
			return
		}
	}
}

// QueryReadings returns one device's points in [q.From, q.To), ordered by
// time, at most q.Limit of them (0: no limit), the oldest first. Raw
// queries read the partitions of the range through their (device_id, ts)
// index; bucketed queries read only the rollup table, from the bucket that
// contains q.From. ENOTFOUND when the device is not the org's; EINVALID for
// a bad bucket, range, limit or metric.
func (s *Store) QueryReadings(ctx context.Context, orgID int64, q vibemon.ReadingQuery) ([]vibemon.Point, error) {
	switch {
	case !q.Bucket.Valid():
		return nil, vibemon.Errorf(vibemon.EINVALID, "bucket must be raw, 1m, 1h or 1d.")
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return nil, vibemon.Errorf(vibemon.EINVALID, "from must be before to.")
	case q.Limit < 0:
		return nil, vibemon.Errorf(vibemon.EINVALID, "limit must not be negative.")
	}
	ms := q.Metrics
	if len(ms) == 0 {
		ms = vibemon.AllMetrics()
	}
	for _, m := range ms {
		if m < 0 || int(m) >= vibemon.NumMetrics {
			return nil, vibemon.Errorf(vibemon.EINVALID, "metric %d is not a reading metric.", int(m))
		}
	}
	var limit *int64
	if q.Limit > 0 {
		l := int64(q.Limit)
		limit = &l
	}
	var sql string
	from := q.From
	if q.Bucket == vibemon.BucketRaw {
		cols := make([]string, len(ms))
		for i, m := range ms {
			cols[i] = m.String()
		}
		sql = "SELECT seq, ts, " + strings.Join(cols, ", ") + ` FROM readings
			WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts, seq LIMIT $4`
	} else {
		var ru rollup
		for _, r := range rollups {
			if r.bucket == q.Bucket {
				ru = r
			}
		}
		cols := make([]string, 0, 4*len(ms))
		for _, m := range ms {
			n := m.String()
			cols = append(cols, n+"_n", n+"_sum", n+"_min", n+"_max")
		}
		from = from.Truncate(q.Bucket.Duration()) // UTC-aligned: Go's zero time is a UTC midnight
		sql = "SELECT bucket_start, count, " + strings.Join(cols, ", ") + " FROM " + ru.table +
			" WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start LIMIT $4"
	}
	// One round trip: the tenancy check and the query travel together; a
	// repeatable-read snapshot is not needed because a device that is
	// deleted in between simply returns no points.
	b := &pgx.Batch{}
	var ok bool
	b.Queue("SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, q.DeviceID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&ok)
	})
	pts := []vibemon.Point{}
	b.Queue(sql, q.DeviceID, from, q.To, limit).Query(func(rows pgx.Rows) error {
		if q.Bucket == vibemon.BucketRaw {
			return scanRaw(rows, len(ms), &pts)
		}
		return scanRollup(rows, len(ms), &pts)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapErr("query readings", err)
	}
	if !ok {
		return nil, mapErr("query readings", notFound("Device"))
	}
	return pts, nil
}

func scanRaw(rows pgx.Rows, nm int, pts *[]vibemon.Point) error {
	vals := make([]*float64, nm)
	dst := make([]any, 2+nm)
	for rows.Next() {
		var p vibemon.Point
		var ts time.Time
		dst[0], dst[1] = &p.Seq, &ts
		for i := range vals {
			vals[i] = nil
			dst[2+i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		p.TS, p.Count = ts.UTC(), 1
		p.Avg = make([]float64, nm)
		for i, v := range vals {
			p.Avg[i] = nullNaN(v)
		}
		*pts = append(*pts, p)
	}
	return rows.Err()
}

func nullNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

func scanRollup(rows pgx.Rows, nm int, pts *[]vibemon.Point) error {
	ns := make([]int64, nm)
	sums := make([]float64, nm)
	mins := make([]*float64, nm)
	maxs := make([]*float64, nm)
	dst := make([]any, 2+4*nm)
	for rows.Next() {
		var start time.Time
		var p vibemon.Point
		dst[0], dst[1] = &start, &p.Count
		for i := 0; i < nm; i++ {
			mins[i], maxs[i] = nil, nil
			dst[2+4*i], dst[3+4*i], dst[4+4*i], dst[5+4*i] = &ns[i], &sums[i], &mins[i], &maxs[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		p.TS = start.UTC()
		p.Avg = make([]float64, nm)
		p.Min = make([]float64, nm)
		p.Max = make([]float64, nm)
		for i := 0; i < nm; i++ {
			if ns[i] == 0 {
				p.Avg[i] = math.NaN()
			} else {
				p.Avg[i] = sums[i] / float64(ns[i])
			}
			p.Min[i], p.Max[i] = nullNaN(mins[i]), nullNaN(maxs[i])
		}
		*pts = append(*pts, p)
	}
	return rows.Err()
}
