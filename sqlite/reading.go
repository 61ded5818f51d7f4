package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vibemon/vibemon"
)

// rollup is one resolution of pre-aggregated readings.
type rollup struct {
	table  string
	bucket vibemon.Bucket
	width  int64 // ms
}

var rollups = [3]rollup{
	{"rollup_1m", vibemon.BucketMinute, int64(time.Minute / time.Millisecond)},
	{"rollup_1h", vibemon.BucketHour, int64(time.Hour / time.Millisecond)},
	{"rollup_1d", vibemon.BucketDay, int64(24 * time.Hour / time.Millisecond)},
}

// floorDiv aligns ms down to a multiple of width, also for negative ms.
func floorTo(ms, width int64) int64 {
	r := ms % width
	if r < 0 {
		r += width
	}
	return ms - r
}

func metricCols() []string {
	cols := make([]string, vibemon.NumMetrics)
	for i := range cols {
		cols[i] = vibemon.Metric(i).String()
	}
	return cols
}

func insertReadingSQL() string {
	cols := metricCols()
	// ON CONFLICT DO NOTHING, not INSERT OR IGNORE: OR IGNORE would also
	// skip CHECK and NOT NULL violations silently.
	return "INSERT INTO readings (device_id, seq, ts, " + strings.Join(cols, ", ") +
		") VALUES (?, ?, ?" + strings.Repeat(", ?", len(cols)) + ") ON CONFLICT (device_id, seq) DO NOTHING"
}

// multiRows is how many readings one multi-row INSERT carries: one
// statement per 64 rows costs far less than 64 statements.
const multiRows = 64

func insertReadingsReturningSQL(rows int) string {
	cols := metricCols()
	one := "(?, ?, ?" + strings.Repeat(", ?", len(cols)) + ")"
	vals := strings.Repeat(one+", ", rows-1) + one
	return "INSERT INTO readings (device_id, seq, ts, " + strings.Join(cols, ", ") + ") VALUES " + vals +
		" ON CONFLICT (device_id, seq) DO NOTHING RETURNING device_id, seq"
}

// readingArgs appends the statement arguments of r: NaN becomes NULL.
func readingArgs(dst []any, r *vibemon.Reading) []any {
	dst = append(dst, r.DeviceID, r.Seq, r.TS.UnixMilli())
	for _, v := range r.Values {
		if math.IsNaN(v) {
			dst = append(dst, nil)
		} else {
			dst = append(dst, v)
		}
	}
	return dst
}

// insertRows inserts rs and sets isNew[i] for each reading that was not
// stored before: whole chunks through the multi-row statement, which
// returns the keys it inserted, the rest one by one.
func (w *writer) insertRows(one, multi *sql.Stmt, rs []vibemon.Reading, isNew []bool) error {
	// Insert in primary-key order: a gateway's batch interleaves devices,
	// and B-tree inserts in key order touch far fewer pages.
	order := w.order[:0]
	for i := range rs {
		order = append(order, i)
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(rs[a].DeviceID, rs[b].DeviceID); c != 0 {
			return c
		}
		if c := cmp.Compare(rs[a].Seq, rs[b].Seq); c != 0 {
			return c
		}
		return cmp.Compare(a, b) // the first of repeated keys is the one stored
	})
	w.order = order
	i := 0
	for ; i+multiRows <= len(order); i += multiRows {
		chunk := order[i : i+multiRows]
		w.params = w.params[:0]
		for _, k := range chunk {
			w.params = readingArgs(w.params, &rs[k])
		}
		rows, err := multi.Query(w.params...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var dev, seq int64
			if err := rows.Scan(&dev, &seq); err != nil {
				rows.Close()
				return err
			}
			// The first reading of the chunk with this key is the one
			// stored; a repeat within the chunk is a duplicate.
			for _, k := range chunk {
				if rs[k].Seq == seq && rs[k].DeviceID == dev && !isNew[k] {
					isNew[k] = true
					break
				}
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, k := range order[i:] {
		w.params = readingArgs(w.params[:0], &rs[k])
		res, err := one.Exec(w.params...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		isNew[k] = n > 0
	}
	return nil
}

func upsertRollupSQL(table string) string {
	var cols, sets []string
	for _, m := range metricCols() {
		cols = append(cols, m+"_n", m+"_sum", m+"_min", m+"_max")
		sets = append(sets,
			fmt.Sprintf("%s_n = %s_n + excluded.%s_n", m, m, m),
			fmt.Sprintf("%s_sum = %s_sum + excluded.%s_sum", m, m, m),
			fmt.Sprintf("%s_min = coalesce(min(%s_min, excluded.%s_min), %s_min, excluded.%s_min)", m, m, m, m, m),
			fmt.Sprintf("%s_max = coalesce(max(%s_max, excluded.%s_max), %s_max, excluded.%s_max)", m, m, m, m, m))
	}
	return "INSERT INTO " + table + " (device_id, bucket_start, count, min_seq, max_seq, " + strings.Join(cols, ", ") +
		") VALUES (?, ?, ?, ?, ?" + strings.Repeat(", ?", len(cols)) + ")" +
		" ON CONFLICT (device_id, bucket_start) DO UPDATE SET count = count + excluded.count," +
		" min_seq = min(min_seq, excluded.min_seq), max_seq = max(max_seq, excluded.max_seq), " +
		strings.Join(sets, ", ")
}

// agg accumulates the new readings of one (device, bucket) in memory, so that
// each rollup row is written once per transaction, not once per reading.
type agg struct {
	count          int64
	minSeq, maxSeq int64
	n              [vibemon.NumMetrics]int64
	sum            [vibemon.NumMetrics]float64
	min, max       [vibemon.NumMetrics]float64
}

func (a *agg) add(r *vibemon.Reading) {
	if a.count == 0 {
		a.minSeq, a.maxSeq = r.Seq, r.Seq
	}
	a.count++
	a.minSeq = min(a.minSeq, r.Seq)
	a.maxSeq = max(a.maxSeq, r.Seq)
	for i, v := range r.Values {
		if math.IsNaN(v) {
			continue
		}
		if a.n[i] == 0 {
			a.min[i], a.max[i] = v, v
		} else {
			a.min[i] = min(a.min[i], v)
			a.max[i] = max(a.max[i], v)
		}
		a.n[i]++
		a.sum[i] += v
	}
}

type aggKey struct{ device, bucket int64 }

// deviceSeen is what a transaction learned about one device.
type deviceSeen struct {
	orgID    int64
	lastSeen int64
	battTS   int64
	batt     float64
	hasBatt  bool
}

// IngestStats counts the writer's work since Open.
type IngestStats struct {
	Calls        int64 // InsertReadings calls answered
	Transactions int64 // transactions committed or failed
	Readings     int64 // readings received
	New          int64 // readings that were new
}

// IngestStats returns the writer's counters: Calls/Transactions is how
// well concurrent callers are coalesced.
func (s *Store) IngestStats() IngestStats {
	return IngestStats{
		Calls:        s.w.calls.Load(),
		Transactions: s.w.txs.Load(),
		Readings:     s.w.readings.Load(),
		New:          s.w.fresh.Load(),
	}
}

type insertReq struct {
	ctx      context.Context
	orgID    int64
	readings []vibemon.Reading
	res      chan insertRes // capacity 1: the writer never blocks on it
}

type insertRes struct {
	isNew []bool
	err   error
}

// writer owns ingest: one goroutine that runs coalesced batches of
// InsertReadings calls in one transaction each on the write connection.
type writer struct {
	s     *Store
	reqs  chan *insertReq
	done  chan struct{}
	max   int
	ins   *sql.Stmt
	multi *sql.Stmt // multiRows readings, RETURNING the new ones
	up    [3]*sql.Stmt
	dev   *sql.Stmt
	owns  *sql.Stmt
	carry *insertReq

	calls, txs, readings, fresh atomic.Int64
	aggs                        [3]map[aggKey]*agg
	params                      []any
	order                       []int // insert order scratch, reused across transactions
}

func newWriter(s *Store, maxBatch int) (*writer, error) {
	w := &writer{s: s, reqs: make(chan *insertReq, 256), done: make(chan struct{}), max: maxBatch}
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.wdb.Prepare(q)
		return st
	}
	w.ins = prep(insertReadingSQL())
	w.multi = prep(insertReadingsReturningSQL(multiRows))
	for i, r := range rollups {
		w.up[i] = prep(upsertRollupSQL(r.table))
		w.aggs[i] = map[aggKey]*agg{}
	}
	w.dev = prep(`UPDATE devices SET
		battery_v = CASE WHEN ?1 IS NOT NULL AND ?2 >= coalesce(last_seen_at, 0) THEN ?1 ELSE battery_v END,
		last_seen_at = max(coalesce(last_seen_at, 0), ?3)
		WHERE org_id = ?4 AND id = ?5`)
	w.owns = prep("SELECT count(*) FROM devices WHERE org_id = ? AND id = ?")
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range append([]*sql.Stmt{w.ins, w.multi, w.dev, w.owns}, w.up[:]...) {
		if st != nil {
			st.Close()
		}
	}
}

var errClosed = vibemon.Errorf(vibemon.EUNAVAILABLE, "The store is closed.")

// InsertReadings stores the readings that are new and reports which were.
// Concurrent calls are coalesced into one transaction; when it returns nil
// the new readings, their rollups and the devices' last-seen state are
// committed with synchronous=FULL (unless Options.Synchronous says
// otherwise). ENOTFOUND when a reading's device is not the org's; then none
// of the call's readings is stored.
func (s *Store) InsertReadings(ctx context.Context, orgID int64, readings []vibemon.Reading) ([]bool, error) {
	if len(readings) == 0 {
		return []bool{}, nil
	}
	req := &insertReq{ctx: ctx, orgID: orgID, readings: readings, res: make(chan insertRes, 1)}
	select {
	case s.w.reqs <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("insert readings: %w", ctx.Err())
	case <-s.closed:
		return nil, fmt.Errorf("insert readings: %w", errClosed)
	}
	select {
	case r := <-req.res:
		return r.isNew, r.err
	case <-ctx.Done():
		// The writer may still commit the readings; a retry finds them
		// duplicates, which is what idempotent ingest is for.
		return nil, fmt.Errorf("insert readings: %w", ctx.Err())
	case <-s.w.done:
		select {
		case r := <-req.res:
			return r.isNew, r.err
		default:
			return nil, fmt.Errorf("insert readings: %w", errClosed)
		}
	}
}

func (w *writer) run() {
	defer close(w.done)
	for {
		first := w.carry
		w.carry = nil
		if first == nil {
			select {
			case first = <-w.reqs:
			case <-w.s.closed:
				for {
					select {
					case r := <-w.reqs:
						r.res <- insertRes{err: fmt.Errorf("insert readings: %w", errClosed)}
					default:
						return
					}
				}
			}
		}
		if err := first.ctx.Err(); err != nil {
			first.res <- insertRes{err: fmt.Errorf("insert readings: %w", err)}
			continue
		}
		// Begin before draining: while the connection is busy (a CRUD
		// write), more callers queue up and join this transaction.
		tx, err := w.s.wdb.BeginTx(context.Background(), nil)
		batch := []*insertReq{first}
		n := len(first.readings)
	drain:
		for n < w.max {
			select {
			case r := <-w.reqs:
				if err := r.ctx.Err(); err != nil {
					r.res <- insertRes{err: fmt.Errorf("insert readings: %w", err)}
					continue
				}
				if n+len(r.readings) > w.max {
					w.carry = r
					break drain
				}
				batch = append(batch, r)
				n += len(r.readings)
			default:
				break drain
			}
		}
		if err != nil {
			w.fail(batch, err)
			continue
		}
		w.exec(tx, batch)
	}
}

func (w *writer) fail(batch []*insertReq, err error) {
	err = mapErr("insert readings", err)
	w.s.log.Error("insert readings failed", "callers", len(batch), "err", err)
	for _, r := range batch {
		r.res <- insertRes{err: err}
	}
}

// exec runs one coalesced batch in tx and answers every caller.
func (w *writer) exec(tx *sql.Tx, batch []*insertReq) {
	defer tx.Rollback()
	w.txs.Add(1)
	w.calls.Add(int64(len(batch)))
	for _, r := range batch {
		w.readings.Add(int64(len(r.readings)))
	}
	ins := tx.Stmt(w.ins)
	multi := tx.Stmt(w.multi)
	owns := tx.Stmt(w.owns)
	defer ins.Close()
	defer multi.Close()
	defer owns.Close()

	type ownKey struct{ org, dev int64 }
	owned := map[ownKey]bool{}
	seen := map[int64]*deviceSeen{}
	for i := range w.aggs {
		clear(w.aggs[i])
	}
	results := make([][]bool, len(batch))
	var live []int // indexes into batch of requests still in the transaction
	for bi, req := range batch {
		ok := true
		for _, r := range req.readings {
			k := ownKey{req.orgID, r.DeviceID}
			yes, known := owned[k]
			if !known {
				var c int
				if err := owns.QueryRow(req.orgID, r.DeviceID).Scan(&c); err != nil {
					w.fail(batch, err)
					return
				}
				yes = c > 0
				owned[k] = yes
			}
			if !yes {
				req.res <- insertRes{err: fmt.Errorf("insert readings: %w",
					vibemon.Errorf(vibemon.ENOTFOUND, "device %d is not a device of this organization.", r.DeviceID))}
				ok = false
				break
			}
		}
		if ok {
			live = append(live, bi)
		}
	}
	for _, bi := range live {
		req := batch[bi]
		isNew := make([]bool, len(req.readings))
		if err := w.insertRows(ins, multi, req.readings, isNew); err != nil {
			w.failLive(batch, live, err)
			return
		}
		for i := range req.readings {
			if !isNew[i] {
				continue
			}
			r := &req.readings[i]
			ts := r.TS.UnixMilli()
			for ri, ru := range rollups {
				k := aggKey{r.DeviceID, floorTo(ts, ru.width)}
				a := w.aggs[ri][k]
				if a == nil {
					a = &agg{}
					w.aggs[ri][k] = a
				}
				a.add(r)
			}
			d := seen[r.DeviceID]
			if d == nil {
				d = &deviceSeen{orgID: req.orgID, lastSeen: ts}
				seen[r.DeviceID] = d
			}
			d.lastSeen = max(d.lastSeen, ts)
			if b := r.Values[vibemon.BatteryV]; !math.IsNaN(b) && (!d.hasBatt || ts >= d.battTS) {
				d.hasBatt, d.batt, d.battTS = true, b, ts
			}
		}
		results[bi] = isNew
	}
	up := make([]any, 5+4*vibemon.NumMetrics)
	for ri := range rollups {
		st := tx.Stmt(w.up[ri])
		for k, a := range w.aggs[ri] {
			up[0], up[1], up[2], up[3], up[4] = k.device, k.bucket, a.count, a.minSeq, a.maxSeq
			for m := 0; m < vibemon.NumMetrics; m++ {
				o := 5 + 4*m
				up[o], up[o+1] = a.n[m], a.sum[m]
				if a.n[m] == 0 {
					up[o+2], up[o+3] = nil, nil
				} else {
					up[o+2], up[o+3] = a.min[m], a.max[m]
				}
			}
			if _, err := st.Exec(up...); err != nil {
				st.Close()
				w.failLive(batch, live, err)
				return
			}
		}
		st.Close()
	}
	dev := tx.Stmt(w.dev)
	defer dev.Close()
	for id, d := range seen {
		var batt any
		if d.hasBatt {
			batt = d.batt
		}
		if _, err := dev.Exec(batt, d.battTS, d.lastSeen, d.orgID, id); err != nil {
			w.failLive(batch, live, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		w.failLive(batch, live, err)
		return
	}
	for _, bi := range live {
		w.fresh.Add(int64(countNew(results[bi])))
		batch[bi].res <- insertRes{isNew: results[bi]}
	}
}

func countNew(isNew []bool) int {
	n := 0
	for _, b := range isNew {
		if b {
			n++
		}
	}
	return n
}

// failLive answers every caller still in the transaction with err: nothing
// of theirs is stored.
func (w *writer) failLive(batch []*insertReq, live []int, err error) {
	reqs := make([]*insertReq, len(live))
	for i, bi := range live {
		reqs[i] = batch[bi]
	}
	w.fail(reqs, err)
}

// QueryReadings returns one device's points in [q.From, q.To), ordered by
// time, at most q.Limit of them (0: no limit), the oldest first. Raw
// queries use rollup_1m to find the seq range of the time range and scan
// only that part of the device's readings; bucketed queries read only the
// rollup table, from the bucket that contains q.From. ENOTFOUND when the
// device is not the org's; EINVALID for a bad bucket, range, limit or metric.
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
	limit := int64(q.Limit)
	if limit == 0 {
		limit = -1
	}
	from, to := q.From.UnixMilli(), q.To.UnixMilli()

	// One read transaction: the seq range and the scan see the same snapshot.
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr("query readings", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", orgID, q.DeviceID).Scan(&n); err != nil {
		return nil, mapErr("query readings", err)
	}
	if n == 0 {
		return nil, mapErr("query readings", notFound("Device"))
	}
	var pts []vibemon.Point
	if q.Bucket == vibemon.BucketRaw {
		pts, err = queryRaw(ctx, tx, q.DeviceID, from, to, limit, ms)
	} else {
		pts, err = queryRollup(ctx, tx, q.DeviceID, from, to, limit, ms, q.Bucket)
	}
	if err != nil {
		return nil, mapErr("query readings", err)
	}
	return pts, nil
}

// seqSpan returns the range of sequence numbers that holds every reading
// of device with from <= ts < to (milliseconds), from rollup_1m, so that a
// scan by time reads only that part of the device's readings (keyed by
// seq) instead of its whole history; lo is NULL when there is none.
func seqSpan(ctx context.Context, tx *sql.Tx, device, from, to int64) (lo, hi sql.NullInt64, err error) {
	minute := rollups[0].width
	err = tx.QueryRowContext(ctx, `SELECT min(min_seq), max(max_seq) FROM rollup_1m
		WHERE device_id = ? AND bucket_start >= ? AND bucket_start < ?`, device, floorTo(from, minute), to).Scan(&lo, &hi)
	return lo, hi, err
}

func queryRaw(ctx context.Context, tx *sql.Tx, device, from, to, limit int64, ms []vibemon.Metric) ([]vibemon.Point, error) {
	lo, hi, err := seqSpan(ctx, tx, device, from, to)
	if err != nil {
		return nil, err
	}
	pts := []vibemon.Point{}
	if !lo.Valid {
		return pts, nil
	}
	cols := make([]string, len(ms))
	for i, m := range ms {
		cols[i] = m.String()
	}
	rows, err := tx.QueryContext(ctx, "SELECT seq, ts, "+strings.Join(cols, ", ")+` FROM readings
		WHERE device_id = ? AND seq BETWEEN ? AND ? AND ts >= ? AND ts < ? ORDER BY ts, seq LIMIT ?`,
		device, lo.Int64, hi.Int64, from, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vals := make([]sql.NullFloat64, len(ms))
	dst := make([]any, 2+len(ms))
	for {
		if !rows.Next() {
			break
		}
		var p vibemon.Point
		var ts int64
		dst[0], dst[1] = &p.Seq, &ts
		for i := range vals {
			dst[2+i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		p.TS, p.Count = msTime(ts), 1
		p.Avg = make([]float64, len(ms))
		for i, v := range vals {
			p.Avg[i] = nullNaN(v)
		}
		pts = append(pts, p)
	}
	return pts, rows.Err()
}

func nullNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func queryRollup(ctx context.Context, tx *sql.Tx, device, from, to, limit int64, ms []vibemon.Metric, b vibemon.Bucket) ([]vibemon.Point, error) {
	var ru rollup
	for _, r := range rollups {
		if r.bucket == b {
			ru = r
		}
	}
	cols := make([]string, 0, 4*len(ms))
	for _, m := range ms {
		n := m.String()
		cols = append(cols, n+"_n", n+"_sum", n+"_min", n+"_max")
	}
	rows, err := tx.QueryContext(ctx, "SELECT bucket_start, count, "+strings.Join(cols, ", ")+" FROM "+ru.table+
		" WHERE device_id = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start LIMIT ?",
		device, floorTo(from, ru.width), to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pts := []vibemon.Point{}
	ns := make([]int64, len(ms))
	sums := make([]float64, len(ms))
	mins := make([]sql.NullFloat64, len(ms))
	maxs := make([]sql.NullFloat64, len(ms))
	dst := make([]any, 2+4*len(ms))
	for rows.Next() {
		var start int64
		var p vibemon.Point
		dst[0], dst[1] = &start, &p.Count
		for i := range ms {
			dst[2+4*i], dst[3+4*i], dst[4+4*i], dst[5+4*i] = &ns[i], &sums[i], &mins[i], &maxs[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		p.TS = msTime(start)
		p.Avg = make([]float64, len(ms))
		p.Min = make([]float64, len(ms))
		p.Max = make([]float64, len(ms))
		for i := range ms {
			if ns[i] == 0 {
				p.Avg[i] = math.NaN()
			} else {
				p.Avg[i] = sums[i] / float64(ns[i])
			}
			p.Min[i], p.Max[i] = nullNaN(mins[i]), nullNaN(maxs[i])
		}
		pts = append(pts, p)
	}
	return pts, rows.Err()
}
