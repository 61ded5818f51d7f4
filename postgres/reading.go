package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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

// readingCols are the columns of readings, in COPY order.
var readingCols = append([]string{"device_id", "seq", "ts"}, metricCols()...)

// Sequence numbers are deduplicated per device with bitmaps: reading_seen
// holds one row per (device, seq >> seenShift) whose bit (seq & (seenBits-1)),
// counted from the left as PostgreSQL's bit strings do, is set once that
// reading is stored. 512 bits (migration 0018; 4096 before): the claim
// rewrites one such row per device and transaction, so the smaller the row,
// the less it writes.
const (
	seenShift = 9
	seenBits  = 1 << seenShift
	seenBytes = seenBits / 8
)

// Statements of the ingest transaction. Each is prepared once per
// connection by pgx's statement cache.
var (
	// lockEpochSQL takes the shared lock of a rollup watermark epoch ($2)
	// for the transaction; $1 is the store's lock class (Store.epochClass).
	// The merge raises the watermark in a new epoch and then takes the
	// older epochs' locks exclusively, which waits for every ingest
	// transaction that may have read the old ingest_from (rollup.go).
	lockEpochSQL     = "SELECT pg_advisory_xact_lock_shared($1::int4, ($2::bigint % 2147483647)::int4)"
	readWatermarkSQL = "SELECT epoch, ingest_from FROM rollup_watermark"
	lockDevicesSQL   = "SELECT id, org_id FROM devices WHERE id = ANY($1) ORDER BY id FOR KEY SHARE"
	readSeenSQL      = `SELECT s.device_id, s.block, s.bits FROM reading_seen s
	JOIN unnest($1::bigint[], $2::bigint[]) AS k(device_id, block) USING (device_id, block)`
	// claimSeenSQL raises VMCL1 (vibemon_claimed, migration 0017) unless
	// every one of the $5 rows was claimed.
	claimSeenSQL = `WITH c AS (INSERT INTO reading_seen AS t (device_id, block, bits, ts_max)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bit(` + fmt.Sprint(seenBits) + `)[], $4::timestamptz[])
	ON CONFLICT (device_id, block) DO UPDATE SET bits = t.bits | excluded.bits, ts_max = greatest(t.ts_max, excluded.ts_max)
	WHERE bit_count(t.bits & excluded.bits) = 0
	RETURNING 1)
	SELECT vibemon_claimed(count(*), $5) FROM c`
	// updateDevicesSQL raises VMCL1 unless all $5 devices were updated
	// (one was deleted since ingestFast planned without reading them).
	updateDevicesSQL = `WITH u AS (UPDATE devices d SET
	battery_v = CASE WHEN x.batt_ts IS NOT NULL AND x.batt_ts >= coalesce(d.last_seen_at, '-infinity') THEN x.batt ELSE d.battery_v END,
	last_seen_at = greatest(d.last_seen_at, x.last_ts)
	FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::float8[]) AS x(device_id, last_ts, batt_ts, batt)
	WHERE d.id = x.device_id
	RETURNING 1)
	SELECT vibemon_claimed(count(*), $5) FROM u`
)

// aggCols are the columns of a rollup row after device_id: bucket_start,
// count, then n, sum, min and max of each metric.
func aggCols() []string {
	cols := []string{"bucket_start", "count"}
	for _, m := range metricCols() {
		cols = append(cols, m+"_n", m+"_sum", m+"_min", m+"_max")
	}
	return cols
}

// copyDeltasSQL takes copyDeltas' output: a batch's minute deltas,
// appended to rollup_delta.
var copyDeltasSQL = "COPY rollup_delta (device_id, " + strings.Join(aggCols(), ", ") + ") FROM STDIN (FORMAT binary)"

// readingSource feeds readings to COPY in readingCols order, reusing one
// row buffer; NaN values become NULL.
type readingSource struct {
	rs  []*vibemon.Reading
	i   int
	row []any
}

func (s *readingSource) Next() bool { s.i++; return s.i <= len(s.rs) }

func (s *readingSource) Values() ([]any, error) {
	r := s.rs[s.i-1]
	if s.row == nil {
		s.row = make([]any, 3+vibemon.NumMetrics)
	}
	s.row[0], s.row[1], s.row[2] = r.DeviceID, r.Seq, r.TS
	for m, v := range r.Values {
		if math.IsNaN(v) {
			s.row[3+m] = nil
		} else {
			s.row[3+m] = v
		}
	}
	return s.row, nil
}

func (s *readingSource) Err() error { return nil }

// copyReadingsSQL takes copyBinary's output: readingCols and raw_rollup.
var copyReadingsSQL = "COPY readings (" + strings.Join(readingCols, ", ") + ", raw_rollup) FROM STDIN (FORMAT binary)"

// copyBinary encodes rs in COPY's binary format (header, one tuple per
// reading: bigint device_id, bigint seq, timestamptz ts, then the metrics as
// double precision, NaN as NULL, then raw_rollup: true when mark and the
// reading's (device, minute) has no delta in deltas, else NULL; trailer). Written
// directly, it costs a fraction of pgx's per-value encoding through
// interfaces, which was 11% of the server's CPU under ingest
// (docs/postgres.md).
func copyBinary(rs []*vibemon.Reading, deltas map[bucketKey]*delta, mark bool) []byte {
	const tupleMax = 2 + 3*12 + vibemon.NumMetrics*12 + 5
	b := make([]byte, 0, 19+len(rs)*tupleMax+2)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension length
	for _, r := range rs {
		b = binary.BigEndian.AppendUint16(b, uint16(3+vibemon.NumMetrics+1))
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(r.DeviceID))
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(r.TS.UnixMicro()-pgEpoch))
		for _, v := range r.Values {
			if math.IsNaN(v) {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff) // -1: NULL
				continue
			}
			b = binary.BigEndian.AppendUint32(b, 8)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		}
		if !mark || deltas[bucketKey{r.DeviceID, r.TS.UTC().Truncate(time.Minute).Unix()}] != nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
		} else {
			b = append(binary.BigEndian.AppendUint32(b, 1), 1)
		}
	}
	return binary.BigEndian.AppendUint16(b, 0xffff) // trailer: -1
}

// IngestStats counts the ingest path's work since Open.
type IngestStats struct {
	Calls        int64 // InsertReadings calls that reached the database
	Transactions int64 // ingest transactions committed
	Fast         int64 // of Transactions, those that planned without reading (ingestFast)
	Retries      int64 // transactions run again: a concurrent one claimed some of their readings first, or the fast path's assumptions failed
	Overlapped   int64 // transactions that started while another one of this store ran (large ones only)
	Readings     int64 // readings received
	New          int64 // readings that were new
	// LateRefreshFailed counts the ingests of late readings after which
	// refreshing the continuous aggregates failed (caggs.go).
	LateRefreshFailed int64
}

type ingestCounters struct {
	calls, txs, fast, readings, fresh, retries, overlapped atomic.Int64
	lateRefreshFailed                                      atomic.Int64
}

// IngestStats returns the ingest counters.
func (s *Store) IngestStats() IngestStats {
	return IngestStats{Calls: s.ing.calls.Load(), Transactions: s.ing.txs.Load(), Fast: s.ing.fast.Load(), Retries: s.ing.retries.Load(),
		Overlapped: s.ing.overlapped.Load(), Readings: s.ing.readings.Load(), New: s.ing.fresh.Load(),
		LateRefreshFailed: s.ing.lateRefreshFailed.Load()}
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

// seenKey names one reading_seen row.
type seenKey struct{ dev, block int64 }

// bucketKey names one rollup row: a device and its bucket's start in Unix
// seconds.
type bucketKey struct{ dev, start int64 }

// delta is what a batch adds to one rollup row.
type delta struct {
	first    time.Time // the oldest reading's ts
	count    int64
	n        [vibemon.NumMetrics]int64
	sum      [vibemon.NumMetrics]float64
	min, max [vibemon.NumMetrics]float64 // meaningful where n > 0
}

func (d *delta) add(r *vibemon.Reading) {
	if d.count == 0 || r.TS.Before(d.first) {
		d.first = r.TS
	}
	d.count++
	for m, v := range r.Values {
		if math.IsNaN(v) {
			continue
		}
		if d.n[m] == 0 || v < d.min[m] {
			d.min[m] = v
		}
		if d.n[m] == 0 || v > d.max[m] {
			d.max[m] = v
		}
		d.n[m]++
		d.sum[m] += v
	}
}

// deviceState is what a batch moves forward on one device.
type deviceState struct {
	lastTS, battTS time.Time
	batt           float64
	hasBatt        bool
}

// ingestPlan is the work of one ingest transaction, computed in Go from the
// batch and the seen bitmaps of its devices: the new readings, the bits to
// set, the rollup deltas and the devices' last-seen state.
type ingestPlan struct {
	fresh   []*vibemon.Reading
	seen    map[seenKey]*[seenBytes]byte // new bits of this batch
	seenMax map[seenKey]time.Time
	minutes map[bucketKey]*delta // what the batch adds to the device minutes that get deltas
	// unmarked: no reading is marked raw_rollup (continuous aggregates)
	unmarked bool
	devs     map[int64]*deviceState
}

// rawGroupMax: a (device, minute) of a batch with fewer new readings than
// this, all current, is rolled up from the readings table by the merge;
// one with more, or with a late reading, gets a delta row. Measured on two
// cores (docs/benchmarks.md): the merge aggregates a reading of the table
// in about 2 µs, while a delta row costs about 12 µs to merge and more to
// write, so with fewer than about 6 readings per row the table is cheaper.
const rawGroupMax = 8

// plan marks the new readings of live (in call order; of a (device, seq)
// repeated, the first) in each call's isNew and aggregates them. stored
// holds the bitmaps read from reading_seen. The (device, minute)s of fewer
// than rawGroupMax readings, none older than rawFrom (the watermark's
// ingest_from), are left to the merge, which rolls them up from the
// readings table (rollup.go); the others get rollup deltas. With caggs
// (continuous aggregates) no reading is marked, and only the readings
// older than their org's retention cutoff in pruned get deltas (caggs.go).
func plan(live []*ingestReq, stored map[seenKey][]byte, rawFrom time.Time, caggs bool, pruned map[int64]time.Time) *ingestPlan {
	p := &ingestPlan{seen: map[seenKey]*[seenBytes]byte{}, seenMax: map[seenKey]time.Time{}, devs: map[int64]*deviceState{},
		minutes: map[bucketKey]*delta{}}
	var last struct {
		k bucketKey
		d *delta
	}
	for _, req := range live {
		req.isNew = make([]bool, len(req.rs))
		for i := range req.rs {
			r := &req.rs[i]
			k := seenKey{r.DeviceID, r.Seq >> seenShift}
			bit := r.Seq & (seenBits - 1)
			byteI, mask := bit>>3, byte(0x80)>>(bit&7)
			if old := stored[k]; len(old) > int(byteI) && old[byteI]&mask != 0 {
				continue
			}
			bits := p.seen[k]
			if bits == nil {
				bits = new([seenBytes]byte)
				p.seen[k] = bits
			}
			if bits[byteI]&mask != 0 {
				continue
			}
			bits[byteI] |= mask
			ts := r.TS.UTC()
			if ts.After(p.seenMax[k]) {
				p.seenMax[k] = ts
			}
			req.isNew[i] = true
			p.fresh = append(p.fresh, r)
			// Continuous aggregates read the readings themselves, but never
			// refresh before the org's retention cutoff: a reading older
			// than that (stored past the ingest service's check) gets its
			// delta (caggs.go).
			if cut, ok := pruned[req.orgID]; !caggs || ok && ts.Before(cut) {
				if bk := (bucketKey{r.DeviceID, ts.Truncate(time.Minute).Unix()}); last.d == nil || last.k != bk {
					d := p.minutes[bk]
					if d == nil {
						d = &delta{}
						p.minutes[bk] = d
					}
					last.k, last.d = bk, d
				}
				last.d.add(r)
			}
			st := p.devs[r.DeviceID]
			if st == nil {
				st = &deviceState{}
				p.devs[r.DeviceID] = st
			}
			if st.lastTS.IsZero() || ts.After(st.lastTS) {
				st.lastTS = ts
			}
			if b := r.Values[vibemon.BatteryV]; !math.IsNaN(b) && (!st.hasBatt || !ts.Before(st.battTS)) {
				st.battTS, st.batt, st.hasBatt = ts, b, true
			}
		}
	}
	p.unmarked = caggs // no marks: the merge rolls up no reading
	if !caggs {
		for k, d := range p.minutes {
			if d.count < rawGroupMax && !d.first.Before(rawFrom) {
				delete(p.minutes, k) // rolled up from the table: copyBinary marks its readings
			}
		}
	}
	// Readings go in by device and time: neighbours in the index.
	slices.SortFunc(p.fresh, func(a, b *vibemon.Reading) int {
		if a.DeviceID != b.DeviceID {
			return cmpInt(a.DeviceID, b.DeviceID)
		}
		return a.TS.Compare(b.TS)
	})
	return p
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// errClaimLost: a concurrent transaction stored some of the readings this
// one planned as new, between its read of the bitmaps and its claim.
var errClaimLost = errors.New("a concurrent transaction claimed some of the same readings")

// queueWrites queues the statements that write p's bits and device state,
// each row set in key order (the deltas go by COPY, copyDeltas). The claim
// fails with VMCL1 (errClaimLost) when a concurrent transaction set some of
// the bits first.
func (p *ingestPlan) queueWrites(b *pgx.Batch) {
	keys := make([]seenKey, 0, len(p.seen))
	for k := range p.seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seenKey) int {
		if a.dev != b.dev {
			return cmpInt(a.dev, b.dev)
		}
		return cmpInt(a.block, b.block)
	})
	devs, blocks := make([]int64, len(keys)), make([]int64, len(keys))
	bits, maxTS := make([]pgtype.Bits, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		devs[i], blocks[i], maxTS[i] = k.dev, k.block, p.seenMax[k]
		bits[i] = pgtype.Bits{Bytes: p.seen[k][:], Len: seenBits, Valid: true}
	}
	b.Queue(claimSeenSQL, devs, blocks, bits, maxTS, len(keys))

	ids := make([]int64, 0, len(p.devs))
	for id := range p.devs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	last, battTS, batt := make([]time.Time, len(ids)), make([]pgtype.Timestamptz, len(ids)), make([]pgtype.Float8, len(ids))
	for i, id := range ids {
		st := p.devs[id]
		last[i] = st.lastTS
		if st.hasBatt {
			battTS[i] = pgtype.Timestamptz{Time: st.battTS, Valid: true}
			batt[i] = pgtype.Float8{Float64: st.batt, Valid: true}
		}
	}
	b.Queue(updateDevicesSQL, ids, last, battTS, batt, len(ids))
}

// copyDeltas encodes a batch's minute deltas in COPY's binary format, in
// (device, minute) order, for copyDeltasSQL: device_id, bucket_start,
// count, then per metric n, sum, and min and max (NULL where n is 0). As
// an INSERT of 75 unnested arrays it took a third of an ingest
// transaction's time at 20,000 readings/s (docs/benchmarks.md).
func copyDeltas(m map[bucketKey]*delta) []byte {
	keys := make([]bucketKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b bucketKey) int {
		if a.dev != b.dev {
			return cmpInt(a.dev, b.dev)
		}
		return cmpInt(a.start, b.start)
	})
	const tupleMax = 2 + 3*12 + vibemon.NumMetrics*4*12
	b := make([]byte, 0, 19+len(keys)*tupleMax+2)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension length
	f8 := func(b []byte, v float64) []byte {
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	i8 := func(b []byte, v int64) []byte {
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, k := range keys {
		d := m[k]
		b = binary.BigEndian.AppendUint16(b, uint16(3+4*vibemon.NumMetrics))
		b = i8(b, k.dev)
		b = i8(b, time.Unix(k.start, 0).UnixMicro()-pgEpoch)
		b = i8(b, d.count)
		// What follows from the other columns is NULL (migration 0019):
		// n when it is count, sum when n is 0, min and max when n <= 1.
		const null = 0xffffffff
		for j := 0; j < vibemon.NumMetrics; j++ {
			if d.n[j] == d.count {
				b = binary.BigEndian.AppendUint32(b, null)
			} else {
				b = i8(b, d.n[j])
			}
			if d.n[j] == 0 {
				b = binary.BigEndian.AppendUint32(b, null)
			} else {
				b = f8(b, d.sum[j])
			}
			if d.n[j] <= 1 {
				b = binary.BigEndian.AppendUint32(b, null)
				b = binary.BigEndian.AppendUint32(b, null)
				continue
			}
			b = f8(b, d.min[j])
			b = f8(b, d.max[j])
		}
	}
	return binary.BigEndian.AppendUint16(b, 0xffff) // trailer
}

// ingest runs reqs in one transaction and sets each one's isNew or err.
// Round trips: one batch takes a KEY SHARE lock on every device of the
// transaction (a concurrent DeleteDevice waits for the commit and then
// deletes these readings too) and reads their seen bitmaps; Go rejects the
// calls that name another org's device, picks the new readings and
// aggregates them per device and minute; one COPY writes the new readings
// into readings, another the minute deltas into rollup_delta (merged into
// the rollups later, rollup.go); one batch claims their bits and moves the
// devices' last-seen state; commit. When this store knows the orgs of all
// the devices, the first attempt skips the first round trip and checks
// what it assumed before committing instead (ingestFast).
//
// The bitmaps are read without a lock, so concurrent transactions COPY in
// parallel; the claim is what serializes them: it ORs the batch's bits into
// each reading_seen row only where none of them is set yet, under that
// row's lock (waiting for a concurrent transaction that holds it). When a
// concurrent transaction stored one of the same readings in between, a
// claim matches fewer rows; the transaction is rolled back and run again,
// and its new read sees the other's readings. Deltas are appended (no
// unique key, no row lock) and devices updated monotonically (last seen),
// in key order, so concurrent transactions need no other lock and do not
// deadlock. When the transaction fails, every call
// that was in it gets the error and nothing of any of them is stored.
func (s *Store) ingest(ctx context.Context, reqs []*ingestReq) {
	var devs []int64
	var keyDevs, keyBlocks []int64
	seenKeys := map[seenKey]bool{}
	for _, r := range reqs {
		r.err = nil
		for i := range r.rs {
			rd := &r.rs[i]
			if rd.Seq < 0 || rd.Seq > vibemon.MaxSeq {
				r.err = fmt.Errorf("insert readings: %w", vibemon.Errorf(vibemon.EINVALID, "seq must be between 0 and %d.", int64(vibemon.MaxSeq)))
				break
			}
			devs = append(devs, rd.DeviceID)
			if k := (seenKey{rd.DeviceID, rd.Seq >> seenShift}); !seenKeys[k] {
				seenKeys[k] = true
				keyDevs, keyBlocks = append(keyDevs, k.dev), append(keyBlocks, k.block)
			}
		}
	}
	slices.Sort(devs)
	devs = slices.Compact(devs)
	var live []*ingestReq
	var invalid []*ingestReq
	for _, r := range reqs {
		if r.err != nil {
			invalid = append(invalid, r)
		}
	}
	var err error
	var fast bool
	for attempt := 0; attempt < 10; attempt++ {
		// The first attempt takes the fast path when this store knows
		// every device's org; a failed assumption (a reading stored
		// already, a deleted device, a new epoch) makes it errClaimLost,
		// and the next attempt reads.
		// With continuous aggregates, late readings take the reading way,
		// which reads their orgs' retention cutoffs (see plan).
		fast = attempt == 0 && s.orgsKnown(reqs, invalid) && !(s.caggs.Load() && s.anyLate(reqs))
		err = s.ingestTx(ctx, func(tx *pgx.Conn) error {
			live = live[:0]
			if fast {
				return s.ingestFast(ctx, tx, reqs, invalid, &live)
			}
			orgOf := make(map[int64]int64, len(devs))
			stored := make(map[seenKey][]byte, len(keyDevs))
			var pruned map[int64]time.Time
			b := &pgx.Batch{}
			b.Queue("BEGIN")
			if s.caggs.Load() {
				pruned = s.queuePrunedBefore(b, reqs)
			}
			guess := s.mark.Load().epoch
			var epoch int64
			var rawFrom time.Time
			s.queueWatermark(b, guess, &epoch, &rawFrom)
			b.Queue(lockDevicesSQL, devs).Query(func(rows pgx.Rows) error {
				var id, org int64
				_, err := pgx.ForEachRow(rows, []any{&id, &org}, func() error { orgOf[id] = org; return nil })
				return err
			})
			b.Queue(readSeenSQL, keyDevs, keyBlocks).Query(func(rows pgx.Rows) error {
				var k seenKey
				var bits pgtype.Bits
				_, err := pgx.ForEachRow(rows, []any{&k.dev, &k.block, &bits}, func() error {
					stored[k] = slices.Clone(bits.Bytes)
					return nil
				})
				return err
			})
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			// A merge raised the watermark since this store last read it:
			// hold the new epoch's lock too before trusting ingest_from.
			for epoch != guess {
				guess = epoch
				b = &pgx.Batch{}
				s.queueWatermark(b, guess, &epoch, &rawFrom)
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
			}
			s.sawWatermark(epoch, rawFrom)
			s.learnOrgs(devs, orgOf)
			for _, r := range reqs {
				if slices.Contains(invalid, r) {
					continue
				}
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
			return writePlan(ctx, tx, plan(live, stored, rawFrom, s.caggs.Load(), pruned), "")
		})
		if !errors.Is(err, errClaimLost) {
			break
		}
		s.ing.retries.Add(1)
	}
	if errors.Is(err, errClaimLost) {
		err = fmt.Errorf("insert readings: %w", vibemon.Errorf(vibemon.EUNAVAILABLE, "Other writers kept storing the same readings; retry later."))
	}
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
	if fast {
		s.ing.fast.Add(1)
	}
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

// writePlan writes p in the open transaction of tx (or in one that prefix,
// SQL run before the COPY in the same round trip, begins) and commits: one
// COPY of the new readings, one of the deltas if there are any, and the
// claim, the devices' update and COMMIT in one round trip.
func writePlan(ctx context.Context, tx *pgx.Conn, p *ingestPlan, prefix string) error {
	if len(p.fresh) == 0 {
		return nil
	}
	if _, err := tx.PgConn().CopyFrom(ctx, bytes.NewReader(copyBinary(p.fresh, p.minutes, !p.unmarked)), prefix+copyReadingsSQL); err != nil {
		return err
	}
	if len(p.minutes) > 0 {
		if _, err := tx.PgConn().CopyFrom(ctx, bytes.NewReader(copyDeltas(p.minutes)), copyDeltasSQL); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	p.queueWrites(b)
	b.Queue("COMMIT")
	return tx.SendBatch(ctx, b).Close()
}

// ingestFast is the ingest transaction without its first round trip, for
// calls whose devices' orgs this store knows (orgsKnown): it plans every
// reading as new and the watermark as last seen (Store.mark), and sends
// BEGIN, the epoch's lock and a check that the epoch is still the one it
// planned with in the query string of the readings' COPY. Whatever it
// assumed is checked in SQL before COMMIT: the claim fails if one of the
// readings was stored already, the devices' update if a device was
// deleted meanwhile (there is no KEY SHARE lock here: a DeleteDevice that
// deletes the row first makes the update miss it; one that comes after
// waits for the update's row lock and then deletes these readings too),
// the epoch check if a merge raised the watermark. Each raises VMCL1, and
// the call runs again the reading way. A gateway resending a batch it got
// no answer for pays one such retry.
func (s *Store) ingestFast(ctx context.Context, tx *pgx.Conn, reqs, invalid []*ingestReq, live *[]*ingestReq) error {
	for _, r := range reqs {
		if !slices.Contains(invalid, r) {
			r.err, r.isNew = nil, nil
			*live = append(*live, r)
		}
	}
	m := s.mark.Load()
	prefix := fmt.Sprintf("BEGIN; SELECT pg_advisory_xact_lock_shared(%d, (%d::bigint %% 2147483647)::int4); SELECT vibemon_claimed(epoch, %d) FROM rollup_watermark; ",
		s.epochClass, m.epoch, m.epoch)
	return writePlan(ctx, tx, plan(*live, nil, m.ingestFrom, s.caggs.Load(), nil), prefix)
}

// watermarkMark is the rollup watermark as this store last read it.
type watermarkMark struct {
	epoch      int64
	ingestFrom time.Time
}

// sawWatermark records a later epoch of the watermark and its ingest_from.
func (s *Store) sawWatermark(epoch int64, ingestFrom time.Time) {
	m := &watermarkMark{epoch, ingestFrom}
	for old := s.mark.Load(); old.epoch < epoch && !s.mark.CompareAndSwap(old, m); old = s.mark.Load() {
	}
}

// maxKnownDevices bounds the store's device -> org cache (16 bytes and a
// map's overhead each); when full it starts over.
const maxKnownDevices = 1 << 20

// orgsKnown reports whether every reading of the valid calls names a device
// this store has seen in the call's org. A device's org never changes and
// ids are not reused, so an entry is wrong only once its device is deleted,
// which the fast path's update detects.
func (s *Store) orgsKnown(reqs, invalid []*ingestReq) bool {
	s.orgMu.RLock()
	defer s.orgMu.RUnlock()
	for _, r := range reqs {
		if slices.Contains(invalid, r) {
			continue
		}
		last := int64(-1)
		for i := range r.rs {
			d := r.rs[i].DeviceID
			if d == last {
				continue
			}
			if org, ok := s.orgOf[d]; !ok || org != r.orgID {
				return false
			}
			last = d
		}
	}
	return true
}

// learnOrgs records the orgs read for devs (found), and forgets the devices
// of devs that were not found.
func (s *Store) learnOrgs(devs []int64, found map[int64]int64) {
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if s.orgOf == nil || len(s.orgOf)+len(found) > maxKnownDevices {
		s.orgOf = make(map[int64]int64, len(found))
	}
	for _, d := range devs {
		if org, ok := found[d]; ok {
			s.orgOf[d] = org
		} else {
			delete(s.orgOf, d)
		}
	}
}

// forgetDevice drops a deleted device from the device -> org cache.
func (s *Store) forgetDevice(id int64) {
	s.orgMu.Lock()
	delete(s.orgOf, id)
	s.orgMu.Unlock()
}

// ingestTx runs fn on a connection of the pool as one transaction whose
// BEGIN and COMMIT fn sends itself, in its first and last round trips (a
// round trip less each than pgx.BeginFunc's, which on two busy cores is
// 0.5-1 ms at the median and several at the tail: docs/benchmarks.md).
// When fn returns with the transaction still open, ingestTx commits it if
// fn succeeded and rolls it back if not. A claim lost to a concurrent
// transaction (VMCL1) is errClaimLost; deadlocks and serialization
// failures are run again as in Store.tx (retrying).
func (s *Store) ingestTx(ctx context.Context, fn func(c *pgx.Conn) error) error {
	err := s.retrying("insert readings", func() error {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		// A connection left inside a transaction (a failed ROLLBACK) is
		// closed by Release, not reused.
		defer c.Release()
		err = fn(c.Conn())
		if c.Conn().PgConn().TxStatus() != 'I' {
			end := "ROLLBACK"
			if err == nil {
				end = "COMMIT"
			}
			if _, e := c.Exec(ctx, end); err == nil {
				err = e
			}
		}
		return err
	})
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "VMCL1" {
		return errClaimLost
	}
	return mapErr("insert readings", err)
}

// InsertReadings stores the readings that are new and reports which were.
// Concurrent calls are coalesced (up to Options.MaxBatch readings) into one
// transaction (ingest) that claims the new (device, seq) keys, COPYs their
// readings, appends their rollup deltas and moves the devices' last-seen
// state. When it returns nil all of that is committed, and every query
// (raw or bucketed) includes the readings; on error nothing of the call is stored. ENOTFOUND when a
// reading's device is not the org's (only this call fails). Of a (device,
// seq) repeated within the call, or across coalesced calls, the first is
// the new one.
func (s *Store) InsertReadings(ctx context.Context, orgID int64, readings []vibemon.Reading) ([]bool, error) {
	isNew, err := s.insertReadings(ctx, orgID, readings)
	if err == nil && s.caggs.Load() && !s.opts.BulkLoad {
		// On the caller's goroutine, not the ingest worker's: a backlog's
		// refresh must not hold up other gateways' live readings.
		s.refreshAfterIngest(ctx, orgID, readings, isNew)
	}
	return isNew, err
}

func (s *Store) insertReadings(ctx context.Context, orgID int64, readings []vibemon.Reading) ([]bool, error) {
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

// overlapMin is the size from which an ingest transaction may overlap
// others: a gateway's full batch (1,000 readings). Measured
// (docs/benchmarks.md): with 4 clients posting 1,000 readings each, no
// transaction reached the earlier bound (MaxBatch/2, 2,500), and letting
// them overlap took 10–40% more readings/s at 4 and 16 clients, while the
// transactions of small POSTs at 20,000 readings/s (300–500 readings) still
// run alone, with the same POST -> WebSocket latency.
const overlapMin = 1000

// ingestWorker takes the first queued call, drains whatever else is queued
// (up to MaxBatch readings) and runs them in one transaction, until Close.
//
// Transactions of at least overlapMin readings (or half of MaxBatch, if
// that is smaller) may run at the same time as others (IngestWorkers of
// them at most), each on a goroutine of its own: their COPY is most of
// their work, and a second transaction's COPY overlaps the first one's
// claim and commit. A smaller transaction
// runs alone, after the others ended: its cost is mostly per device (a
// seen-bitmap row, a device row, its deltas), two at once would wait for
// each other's row locks, and waiting lets it coalesce what arrives
// meanwhile (docs/postgres.md, "Ingest"). Only this goroutine takes calls
// from the queue, so a batch is topped up right before it runs.
func (s *Store) ingestWorker() {
	defer s.workers.Done()
	slots := make(chan struct{}, s.opts.IngestWorkers)
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
		batch, n := []*ingestReq{first}, len(first.rs)
		batch, n, carry = s.drain(batch, n, carry)
		take := 1
		if n < min(overlapMin, s.opts.MaxBatch/2) {
			take = s.opts.IngestWorkers
		}
		for range take {
			slots <- struct{}{}
		}
		if len(slots) > take {
			s.ing.overlapped.Add(1)
		}
		batch, _, carry = s.drain(batch, n, carry)
		release := func() {
			for range take {
				<-slots
			}
		}
		if take == 1 && s.opts.IngestWorkers > 1 {
			s.workers.Add(1)
			go func() {
				defer s.workers.Done()
				s.runBatch(batch)
				release()
			}()
			continue
		}
		s.runBatch(batch)
		release()
	}
}

// runBatch runs the calls of batch whose callers still wait in one
// transaction and answers them all.
func (s *Store) runBatch(batch []*ingestReq) {
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

// drain adds queued calls to batch (n readings) while they fit in MaxBatch.
// A call that did not fit is returned, and a batch that holds one already
// takes no more (calls run in the order they came).
func (s *Store) drain(batch []*ingestReq, n int, carry *ingestReq) ([]*ingestReq, int, *ingestReq) {
	for carry == nil && n < s.opts.MaxBatch {
		select {
		case r := <-s.reqs:
			if n+len(r.rs) > s.opts.MaxBatch {
				return batch, n, r
			}
			batch = append(batch, r)
			n += len(r.rs)
		default:
			return batch, n, nil
		}
	}
	return batch, n, carry
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
// index; bucketed queries read the rollup table and the deltas not merged
// into it yet (rollup.go), from the bucket that contains q.From. ENOTFOUND when the device is not the org's; EINVALID for
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
	if q.Bucket != vibemon.BucketRaw {
		return s.queryBuckets(ctx, orgID, q, ms, limit)
	}
	cols := make([]string, len(ms))
	for i, m := range ms {
		cols[i] = m.String()
	}
	sql := "SELECT seq, ts, " + strings.Join(cols, ", ") + ` FROM readings
		WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts, seq LIMIT $4`
	// One round trip: the tenancy check and the query travel together; a
	// repeatable-read snapshot is not needed because a device that is
	// deleted in between simply returns no points.
	b := &pgx.Batch{}
	var ok bool
	b.Queue(deviceOfOrgSQL, orgID, q.DeviceID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&ok)
	})
	pts := []vibemon.Point{}
	b.Queue(sql, q.DeviceID, q.From, q.To, limit).Query(func(rows pgx.Rows) error {
		return scanRaw(rows, len(ms), &pts)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapErr("query readings", err)
	}
	if !ok {
		return nil, mapErr("query readings", notFound("Device"))
	}
	return pts, nil
}

const deviceOfOrgSQL = "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)"

// The scanners below decode PostgreSQL's binary format directly from the
// rows' raw values when every column arrived in it (pgx asks for binary
// results of prepared statements of these types): a 30-day hourly query
// returns 720 rows of 56 values, and pgx's generic Scan into pointers spent
// more CPU on them than the database spent executing the query (see
// docs/postgres.md). Otherwise they fall back to Scan.

// pgEpoch is the zero of PostgreSQL's binary timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

func allBinary(rows pgx.Rows) bool {
	for _, fd := range rows.FieldDescriptions() {
		if fd.Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// binTime decodes a binary timestamptz.
func binTime(b []byte) (time.Time, bool) {
	if len(b) != 8 {
		return time.Time{}, false
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b)) + pgEpoch).UTC(), true
}

// binInt decodes a binary bigint.
func binInt(b []byte) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

// binFloat decodes a binary double precision; NULL is NaN.
func binFloat(b []byte) (float64, bool) {
	switch len(b) {
	case 0:
		if b == nil {
			return math.NaN(), true
		}
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), true
	}
	return 0, false
}

var errBadBinary = errors.New("unexpected binary value in a readings query")

func scanRaw(rows pgx.Rows, nm int, pts *[]vibemon.Point) error {
	if !allBinary(rows) {
		return scanRawGeneric(rows, nm, pts)
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 2+nm {
			return errBadBinary
		}
		var p vibemon.Point
		var ok1, ok2 bool
		p.Seq, ok1 = binInt(v[0])
		p.TS, ok2 = binTime(v[1])
		if !ok1 || !ok2 {
			return errBadBinary
		}
		p.Count = 1
		p.Avg = make([]float64, nm)
		for i := range p.Avg {
			f, ok := binFloat(v[2+i])
			if !ok {
				return errBadBinary
			}
			p.Avg[i] = f
		}
		*pts = append(*pts, p)
	}
	return rows.Err()
}

func scanRawGeneric(rows pgx.Rows, nm int, pts *[]vibemon.Point) error {
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
