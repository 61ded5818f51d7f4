package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/vibemon/vibemon/wire"
)

// Reading states in the queue.
const (
	statePending  = 0 // waiting for upload
	stateUploaded = 1 // the server answered 2xx
	stateDropped  = 2 // dropped at the size bound (a gap)
)

// Gap reasons.
const (
	// GapNodeOverflow: the node's ring overwrote unsent summaries
	// (EventDataLost).
	GapNodeOverflow = "node_ring_overflow"
	// GapQueueFull: the gateway's queue hit its bound and dropped its
	// oldest readings.
	GapQueueFull = "queue_full"
	// GapRejected: the server rejected the reading as invalid.
	GapRejected = "rejected"
)

// DefaultMaxReadings is QueueConfig.MaxReadings' default: 1,000,000 pending
// readings, about 11 days of 1 summary a minute from 60 nodes, ~300 MB.
const DefaultMaxReadings = 1_000_000

// QueueConfig configures a Queue. The zero value means the defaults named.
type QueueConfig struct {
	// MaxReadings bounds the readings waiting for upload. Past it the
	// oldest pending readings are dropped (drop oldest: the newest data
	// is what an operator looks at), counted and recorded as gaps.
	// Defaults to DefaultMaxReadings.
	MaxReadings int
	// MaxBatch is the most readings one transaction commits. Defaults to 1,000.
	MaxBatch int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnGap, when set, is called with every gap row once it is durable
	// (in the writer's or the uploader's goroutine: it must not block).
	// Gap rows leave the file after the server took them and the node's
	// acknowledgement passed them, so this is the way to see every gap the
	// gateway ever recorded (an audit log; the end-to-end tests use it).
	OnGap func(Gap)
}

// Reading is one summary as the queue holds it.
type Reading struct {
	Serial string
	Seq    uint32
	TS     time.Time
	// Values holds one value per wire.Metric plus rssi_dbm last; NaN
	// means not measured.
	Values [wire.NumMetrics + 1]float64

	rowid int64
	frag  string // JSON members of the metrics
}

// Gap is a range of sequence numbers the server will not get, and why.
type Gap struct {
	Serial string
	First  uint32
	Count  uint32
	Reason string
	At     time.Time
	// Sent is true once the server took the gap (POST /devices/{id}/gaps
	// answered 2xx).
	Sent bool

	rowid int64
}

// DeviceRecord is what the queue remembers of a node.
type DeviceRecord struct {
	Serial   string
	DeviceID int64  // server id; 0 until registered
	Acked    uint32 // the last ResumeFrom written: every summary below it is on disk
	Name     string
	Firmware string
}

// Queue is the gateway's offline queue: one SQLite file in WAL mode holding
// summaries until the server took them, the serial → device id map, each
// node's acknowledged mark and the gaps. Add is asynchronous (one writer
// goroutine commits whatever is queued in one transaction); Flush waits
// until everything added before it is durable.
type Queue struct {
	db   *sql.DB
	cfg  QueueConfig
	path string

	in      chan addReq
	done    chan struct{}
	closing sync.Once

	pending  atomic.Int64
	dropped  atomic.Int64
	inflight atomic.Bool   // an upload is in flight: the bound waits for it
	wake     chan struct{} // signalled when readings were committed
}

type addReq struct {
	r     *Reading
	gap   *Gap
	flush chan error
}

// OpenQueue opens (creating if needed) the queue file at path.
func OpenQueue(path string, cfg QueueConfig) (*Queue, error) {
	if cfg.MaxReadings == 0 {
		cfg.MaxReadings = DefaultMaxReadings
	}
	if cfg.MaxReadings < 0 {
		return nil, fmt.Errorf("open queue: QueueConfig.MaxReadings %d is negative", cfg.MaxReadings)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if path == "" {
		return nil, errors.New("open queue: path is empty")
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	// One connection: the writer goroutine and the readers take turns, so
	// SQLITE_BUSY never happens inside the process.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	const schema = `
CREATE TABLE IF NOT EXISTS readings (
	serial TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	ts_ms  INTEGER NOT NULL,
	state  INTEGER NOT NULL DEFAULT 0,
	vals   TEXT,
	UNIQUE (serial, seq)
);
CREATE INDEX IF NOT EXISTS readings_state ON readings (state);
CREATE TABLE IF NOT EXISTS devices (
	serial    TEXT PRIMARY KEY,
	device_id INTEGER NOT NULL DEFAULT 0,
	acked     INTEGER NOT NULL DEFAULT 0,
	name      TEXT NOT NULL DEFAULT '',
	firmware  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS gaps (
	serial TEXT NOT NULL,
	first  INTEGER NOT NULL,
	count  INTEGER NOT NULL,
	reason TEXT NOT NULL,
	at_ms  INTEGER NOT NULL,
	sent   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: create schema: %w", path, err)
	}
	// Queue files from before gap reporting have no sent column.
	if _, err := db.Exec(`SELECT sent FROM gaps LIMIT 0`); err != nil {
		if _, err := db.Exec(`ALTER TABLE gaps ADD COLUMN sent INTEGER NOT NULL DEFAULT 0`); err != nil {
			db.Close()
			return nil, fmt.Errorf("open queue %s: add gaps.sent: %w", path, err)
		}
	}
	if _, err := db.Exec(deliveredSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: create schema: %w", path, err)
	}
	if _, err := db.Exec(burstSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: create schema: %w", path, err)
	}
	if _, err := db.Exec(otaSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: create schema: %w", path, err)
	}
	if _, err := db.Exec(`CREATE INDEX IF NOT EXISTS gaps_unsent ON gaps (sent)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: create schema: %w", path, err)
	}
	// Files from before pruning kept every sent gap.
	if _, err := db.Exec(pruneGapsSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: prune sent gaps: %w", path, err)
	}
	qu := &Queue{db: db, cfg: cfg, path: path, in: make(chan addReq, 4096), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	var n, d int64
	if err := db.QueryRow(`SELECT count(*) FROM readings WHERE state = 0`).Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue: count pending: %w", err)
	}
	db.QueryRow(`SELECT value FROM counters WHERE name = 'dropped'`).Scan(&d)
	qu.pending.Store(n)
	qu.dropped.Store(d)
	go qu.writer()
	return qu, nil
}

// Path returns the queue file's path; the OTA relay keeps firmware
// images in a directory next to it.
func (q *Queue) Path() string { return q.path }

// Close stops the writer after committing what was added, and closes the
// file. Safe twice.
func (q *Queue) Close() error {
	var err error
	q.closing.Do(func() {
		close(q.in)
		<-q.done
		err = q.db.Close()
	})
	return err
}

// Add queues r for the writer; it is durable after the next Flush.
func (q *Queue) Add(r Reading) {
	r.frag = valuesJSON(&r.Values)
	q.in <- addReq{r: &r}
}

// AddGap records a gap.
func (q *Queue) AddGap(g Gap) {
	if g.At.IsZero() {
		g.At = q.cfg.Now()
	}
	q.in <- addReq{gap: &g}
}

// Flush returns once everything added before it is committed.
func (q *Queue) Flush(ctx context.Context) error {
	c := make(chan error, 1)
	select {
	case q.in <- addReq{flush: c}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Depth returns the readings waiting for upload.
func (q *Queue) Depth() int64 { return q.pending.Load() }

// Dropped returns the readings dropped at the size bound, ever.
func (q *Queue) Dropped() int64 { return q.dropped.Load() }

// Wake is signalled after readings were committed.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

func (q *Queue) writer() {
	defer close(q.done)
	batch := make([]addReq, 0, q.cfg.MaxBatch)
	for first := range q.in {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < q.cfg.MaxBatch {
			select {
			case r, ok := <-q.in:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := q.commit(batch)
		for _, r := range batch {
			if r.flush != nil {
				r.flush <- err
			}
		}
	}
}

func (q *Queue) commit(batch []addReq) (err error) {
	tx, err := q.db.Begin()
	if err != nil {
		return fmt.Errorf("queue commit: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ins, err := tx.Prepare(`INSERT OR IGNORE INTO readings (serial, seq, ts_ms, state, vals) VALUES (?, ?, ?, 0, ?)`)
	if err != nil {
		return fmt.Errorf("queue commit: %w", err)
	}
	defer ins.Close()
	var added, gaps int64
	var recorded []Gap
	for _, r := range batch {
		switch {
		case r.r != nil:
			res, err := ins.Exec(r.r.Serial, int64(r.r.Seq), r.r.TS.UnixMilli(), r.r.frag)
			if err != nil {
				return fmt.Errorf("queue insert reading: %w", err)
			}
			n, _ := res.RowsAffected()
			added += n
		case r.gap != nil:
			if _, err := tx.Exec(`INSERT INTO gaps (serial, first, count, reason, at_ms) VALUES (?, ?, ?, ?, ?)`,
				r.gap.Serial, int64(r.gap.First), int64(r.gap.Count), r.gap.Reason, r.gap.At.UnixMilli()); err != nil {
				return fmt.Errorf("queue insert gap: %w", err)
			}
			recorded = append(recorded, *r.gap)
			gaps++
		}
	}
	var dropped int64
	if over := q.pending.Load() + added - int64(q.cfg.MaxReadings); over > 0 && !q.inflight.Load() {
		if dropped, err = q.dropOldest(tx, over, &recorded); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue commit: %w", err)
	}
	q.recorded(recorded)
	q.pending.Add(added - dropped)
	q.dropped.Add(dropped)
	if added > 0 || gaps > 0 {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// recorded passes durable gap rows to QueueConfig.OnGap.
func (q *Queue) recorded(gs []Gap) {
	if q.cfg.OnGap == nil {
		return
	}
	for _, g := range gs {
		q.cfg.OnGap(g)
	}
}

// dropOldest marks the n oldest pending readings dropped and records each
// as a gap.
func (q *Queue) dropOldest(tx *sql.Tx, n int64, recorded *[]Gap) (int64, error) {
	now := q.cfg.Now().UnixMilli()
	rows, err := tx.Query(`SELECT rowid, serial, seq FROM readings WHERE state = 0 ORDER BY rowid LIMIT ?`, n)
	if err != nil {
		return 0, fmt.Errorf("queue drop oldest: %w", err)
	}
	type victim struct {
		id     int64
		serial string
		seq    int64
	}
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.serial, &v.seq); err != nil {
			rows.Close()
			return 0, fmt.Errorf("queue drop oldest: %w", err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	for _, v := range vs {
		if _, err := tx.Exec(`UPDATE readings SET state = 2, vals = NULL WHERE rowid = ?`, v.id); err != nil {
			return 0, fmt.Errorf("queue drop oldest: %w", err)
		}
		if _, err := tx.Exec(`INSERT INTO gaps (serial, first, count, reason, at_ms) VALUES (?, ?, 1, ?, ?)`, v.serial, v.seq, GapQueueFull, now); err != nil {
			return 0, fmt.Errorf("queue drop oldest: %w", err)
		}
		*recorded = append(*recorded, Gap{Serial: v.serial, First: uint32(v.seq), Count: 1, Reason: GapQueueFull, At: time.UnixMilli(now)})
	}
	d := int64(len(vs))
	if _, err := tx.Exec(`INSERT INTO counters (name, value) VALUES ('dropped', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`, d); err != nil {
		return 0, fmt.Errorf("queue drop oldest: %w", err)
	}
	return d, nil
}

// Device returns what the queue knows of serial; a zero record (with the
// serial) when it never saw it.
func (q *Queue) Device(ctx context.Context, serial string) (DeviceRecord, error) {
	d := DeviceRecord{Serial: serial}
	var acked int64
	err := q.db.QueryRowContext(ctx, `SELECT device_id, acked, name, firmware FROM devices WHERE serial = ?`, serial).Scan(&d.DeviceID, &acked, &d.Name, &d.Firmware)
	if errors.Is(err, sql.ErrNoRows) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("queue device %s: %w", serial, err)
	}
	d.Acked = uint32(acked)
	return d, nil
}

// SeeDevice records a node's name and firmware version on connect.
func (q *Queue) SeeDevice(ctx context.Context, serial, name, firmware string) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO devices (serial, name, firmware) VALUES (?, ?, ?)
ON CONFLICT (serial) DO UPDATE SET name = excluded.name, firmware = excluded.firmware`, serial, name, firmware)
	if err != nil {
		return fmt.Errorf("queue see device %s: %w", serial, err)
	}
	return nil
}

// SetDeviceID records the server's id for serial.
func (q *Queue) SetDeviceID(ctx context.Context, serial string, id int64) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO devices (serial, device_id) VALUES (?, ?)
ON CONFLICT (serial) DO UPDATE SET device_id = excluded.device_id`, serial, id)
	if err != nil {
		return fmt.Errorf("queue set device id %s: %w", serial, err)
	}
	return nil
}

// SetAcked records that the node was told ResumeFrom(seq), and forgets the
// uploaded and dropped readings below it: the node will not send them again.
func (q *Queue) SetAcked(ctx context.Context, serial string, seq uint32) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue set acked %s: %w", serial, err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO devices (serial, acked) VALUES (?, ?)
ON CONFLICT (serial) DO UPDATE SET acked = excluded.acked`, serial, int64(seq)); err != nil {
		return fmt.Errorf("queue set acked %s: %w", serial, err)
	}
	if _, err := tx.Exec(`DELETE FROM readings WHERE serial = ? AND seq < ? AND state <> 0`, serial, int64(seq)); err != nil {
		return fmt.Errorf("queue set acked %s: %w", serial, err)
	}
	if _, err := tx.Exec(pruneGapsSQL+` AND serial = ?`, serial); err != nil {
		return fmt.Errorf("queue set acked %s: %w", serial, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue set acked %s: %w", serial, err)
	}
	return nil
}

// CountHeld returns how many summaries of serial with from <= seq < to the
// queue holds (pending, uploaded or dropped): the gateway received them.
func (q *Queue) CountHeld(ctx context.Context, serial string, from, to uint32) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM readings WHERE serial = ? AND seq >= ? AND seq < ?`, serial, int64(from), int64(to)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue count held %s: %w", serial, err)
	}
	return n, nil
}

// Pending returns up to limit readings waiting for upload, oldest first,
// with the server id of their device (0 when not registered yet). Until
// MarkUploaded or Release the size bound drops nothing (so a reading is
// never both on the server and recorded as dropped, and the oldest are
// still the ones dropped): the queue may exceed its bound by what arrives
// during one upload.
func (q *Queue) Pending(ctx context.Context, limit int) ([]Reading, map[string]int64, error) {
	// Set before the query: a writer transaction that began earlier
	// commits its drops before the query can run (one connection).
	q.inflight.Store(true)
	rows, err := q.db.QueryContext(ctx, `SELECT r.rowid, r.serial, r.seq, r.ts_ms, r.vals, coalesce(d.device_id, 0)
FROM readings r LEFT JOIN devices d ON d.serial = r.serial WHERE r.state = 0 ORDER BY r.rowid LIMIT ?`, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("queue pending: %w", err)
	}
	defer rows.Close()
	var out []Reading
	ids := map[string]int64{}
	for rows.Next() {
		var r Reading
		var seq, ts, id int64
		if err := rows.Scan(&r.rowid, &r.Serial, &seq, &ts, &r.frag, &id); err != nil {
			return nil, nil, fmt.Errorf("queue pending: %w", err)
		}
		r.Seq, r.TS = uint32(seq), time.UnixMilli(ts).UTC()
		ids[r.Serial] = id
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("queue pending: %w", err)
	}
	if len(out) == 0 {
		q.inflight.Store(false)
	}
	return out, ids, nil
}

// Release ends the upload of the readings Pending returned without
// marking them (the upload failed): the size bound may drop them again.
func (q *Queue) Release() { q.inflight.Store(false) }

// MarkUploaded takes rs out of the pending set: the server answered 2xx
// (accepted, duplicate or rejected; rejected ones are passed in rejected
// too and recorded as gaps).
func (q *Queue) MarkUploaded(ctx context.Context, rs []Reading, rejected []Reading) error {
	if len(rs) == 0 {
		return nil
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue mark uploaded: %w", err)
	}
	defer tx.Rollback()
	var n int64
	for i := 0; i < len(rs); i += 500 {
		part := rs[i:min(i+500, len(rs))]
		var b strings.Builder
		b.WriteString(`UPDATE readings SET state = 1, vals = NULL WHERE state = 0 AND rowid IN (`)
		for j, r := range part {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(r.rowid, 10))
		}
		b.WriteByte(')')
		res, err := tx.Exec(b.String())
		if err != nil {
			return fmt.Errorf("queue mark uploaded: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	now := q.cfg.Now().UnixMilli()
	var recorded []Gap
	for _, r := range rejected {
		if _, err := tx.Exec(`INSERT INTO gaps (serial, first, count, reason, at_ms) VALUES (?, ?, 1, ?, ?)`, r.Serial, int64(r.Seq), GapRejected, now); err != nil {
			return fmt.Errorf("queue mark uploaded: %w", err)
		}
		recorded = append(recorded, Gap{Serial: r.Serial, First: r.Seq, Count: 1, Reason: GapRejected, At: time.UnixMilli(now)})
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue mark uploaded: %w", err)
	}
	q.recorded(recorded)
	q.pending.Add(-n)
	q.inflight.Store(false)
	return nil
}

// Gaps returns the recorded gaps, oldest first.
func (q *Queue) Gaps(ctx context.Context) ([]Gap, error) {
	return q.gaps(ctx, `SELECT rowid, serial, first, count, reason, at_ms, sent FROM gaps ORDER BY rowid`)
}

// UnsentGaps returns up to limit gaps the server has not taken yet,
// oldest first.
func (q *Queue) UnsentGaps(ctx context.Context, limit int) ([]Gap, error) {
	return q.gaps(ctx, `SELECT rowid, serial, first, count, reason, at_ms, sent FROM gaps WHERE sent = 0 ORDER BY rowid LIMIT ?`, limit)
}

func (q *Queue) gaps(ctx context.Context, query string, args ...any) ([]Gap, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("queue gaps: %w", err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		var first, count, at int64
		if err := rows.Scan(&g.rowid, &g.Serial, &first, &count, &g.Reason, &at, &g.Sent); err != nil {
			return nil, fmt.Errorf("queue gaps: %w", err)
		}
		g.First, g.Count, g.At = uint32(first), uint32(count), time.UnixMilli(at).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// pruneGapsSQL deletes the gap rows the server took (sent) that lie wholly
// below their node's acknowledged mark. A sent row above the mark stays: the
// completeness check still counts it as a trace of those seqs (infer.go),
// and without it would record them as lost again.
const pruneGapsSQL = `DELETE FROM gaps WHERE sent = 1
	AND first + count <= coalesce((SELECT acked FROM devices d WHERE d.serial = gaps.serial), 0)`

// MarkGapsSent records that the server took gs (a 2xx); they are not
// sent again, and those below their node's acknowledged mark leave the
// file.
func (q *Queue) MarkGapsSent(ctx context.Context, gs []Gap) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue mark gaps sent: %w", err)
	}
	defer tx.Rollback()
	for _, g := range gs {
		if _, err := tx.Exec(`UPDATE gaps SET sent = 1 WHERE rowid = ?`, g.rowid); err != nil {
			return fmt.Errorf("queue mark gaps sent: %w", err)
		}
	}
	if _, err := tx.Exec(pruneGapsSQL); err != nil {
		return fmt.Errorf("queue mark gaps sent: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue mark gaps sent: %w", err)
	}
	return nil
}

// Devices returns every node the queue knows.
func (q *Queue) Devices(ctx context.Context) ([]DeviceRecord, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT serial, device_id, acked, name, firmware FROM devices ORDER BY serial`)
	if err != nil {
		return nil, fmt.Errorf("queue devices: %w", err)
	}
	defer rows.Close()
	var out []DeviceRecord
	for rows.Next() {
		var d DeviceRecord
		var acked int64
		if err := rows.Scan(&d.Serial, &d.DeviceID, &acked, &d.Name, &d.Firmware); err != nil {
			return nil, fmt.Errorf("queue devices: %w", err)
		}
		d.Acked = uint32(acked)
		out = append(out, d)
	}
	return out, rows.Err()
}

// valuesJSON renders the measured values as JSON object members.
func valuesJSON(v *[wire.NumMetrics + 1]float64) string {
	var b []byte
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		name := "rssi_dbm"
		if i < wire.NumMetrics {
			name = wire.Metric(i).String()
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = strconv.AppendFloat(b, x, 'g', 7, 64)
	}
	return string(b)
}
