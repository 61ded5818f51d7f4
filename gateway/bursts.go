package gateway

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// MaxBursts is how many reassembled bursts the queue holds for upload; a
// new one beyond it drops the oldest (a node is asked for bursts again on
// schedule, summaries are never dropped for them).
const MaxBursts = 64

// Burst is a reassembled raw burst waiting in the queue for upload.
type Burst struct {
	ID     int64 // the queue's row id; set by Bursts
	Serial string
	TS     time.Time
	RateHz float64
	Scale  float32
	Axes   int
	Data   []int16 // interleaved frames, Axes values each
}

const burstSchema = `CREATE TABLE IF NOT EXISTS bursts (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	serial  TEXT    NOT NULL,
	ts_ms   INTEGER NOT NULL,
	rate_hz REAL    NOT NULL,
	scale   REAL    NOT NULL,
	axes    INTEGER NOT NULL,
	data    BLOB    NOT NULL
);`

// AddBurst stores b durably and reports how many of the oldest bursts it
// dropped to stay within MaxBursts.
func (q *Queue) AddBurst(ctx context.Context, b Burst) (dropped int, err error) {
	raw := make([]byte, 2*len(b.Data))
	for i, v := range b.Data {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("queue add burst: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO bursts (serial, ts_ms, rate_hz, scale, axes, data) VALUES (?, ?, ?, ?, ?, ?)`,
		b.Serial, b.TS.UnixMilli(), b.RateHz, float64(b.Scale), b.Axes, raw); err != nil {
		return 0, fmt.Errorf("queue add burst: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM bursts WHERE id NOT IN (SELECT id FROM bursts ORDER BY id DESC LIMIT ?)`, MaxBursts)
	if err != nil {
		return 0, fmt.Errorf("queue add burst: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("queue add burst: %w", err)
	}
	return int(n), nil
}

// Bursts returns up to limit stored bursts, oldest first.
func (q *Queue) Bursts(ctx context.Context, limit int) ([]Burst, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, serial, ts_ms, rate_hz, scale, axes, data FROM bursts ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("queue bursts: %w", err)
	}
	defer rows.Close()
	var out []Burst
	for rows.Next() {
		var b Burst
		var ts int64
		var scale float64
		var raw []byte
		if err := rows.Scan(&b.ID, &b.Serial, &ts, &b.RateHz, &scale, &b.Axes, &raw); err != nil {
			return nil, fmt.Errorf("queue bursts: %w", err)
		}
		b.TS, b.Scale = time.UnixMilli(ts), float32(scale)
		b.Data = make([]int16, len(raw)/2)
		for i := range b.Data {
			b.Data[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBurst removes a burst the server took (or refused for good).
func (q *Queue) DeleteBurst(ctx context.Context, id int64) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM bursts WHERE id = ?`, id); err != nil {
		return fmt.Errorf("queue delete burst: %w", err)
	}
	return nil
}
