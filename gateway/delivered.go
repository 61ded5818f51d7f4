package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Delivered is what the gateway last wrote to a node of the server's
// settings (0: never delivered): a node that later reports another value
// diverged from what it was given (a conflict), while a value the server
// changed since is a delivery. Kept in the queue file, so a restarted
// gateway still tells the two apart.
type Delivered struct {
	IntervalS    int
	RangeG       int
	SampleRateHz int
	Window       int
}

const deliveredSchema = `
CREATE TABLE IF NOT EXISTS delivered (
	serial         TEXT PRIMARY KEY,
	interval_s     INTEGER NOT NULL DEFAULT 0,
	range_g        INTEGER NOT NULL DEFAULT 0,
	sample_rate_hz INTEGER NOT NULL DEFAULT 0,
	window_samples INTEGER NOT NULL DEFAULT 0
);`

// Delivered returns what was delivered to serial; zero when nothing was.
func (q *Queue) Delivered(ctx context.Context, serial string) (Delivered, error) {
	var d Delivered
	err := q.db.QueryRowContext(ctx, `SELECT interval_s, range_g, sample_rate_hz, window_samples FROM delivered WHERE serial = ?`, serial).
		Scan(&d.IntervalS, &d.RangeG, &d.SampleRateHz, &d.Window)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivered{}, nil
	}
	if err != nil {
		return d, fmt.Errorf("queue delivered %s: %w", serial, err)
	}
	return d, nil
}

// SetDelivered records what was delivered to serial, durably.
func (q *Queue) SetDelivered(ctx context.Context, serial string, d Delivered) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO delivered (serial, interval_s, range_g, sample_rate_hz, window_samples) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (serial) DO UPDATE SET interval_s = excluded.interval_s, range_g = excluded.range_g,
	sample_rate_hz = excluded.sample_rate_hz, window_samples = excluded.window_samples`,
		serial, d.IntervalS, d.RangeG, d.SampleRateHz, d.Window)
	if err != nil {
		return fmt.Errorf("queue set delivered %s: %w", serial, err)
	}
	return nil
}
