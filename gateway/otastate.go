package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OTAState is what the OTA relay remembers of a node across gateway
// restarts, in the queue file: an image the node refused or rolled back
// from is not sent to it again (a rolled-back image would boot on trial
// and roll back again, ten minutes and a few hundred kilobytes of radio
// each time), and a finished update is counted once.
type OTAState struct {
	// Target is the firmware id of the last transfer started.
	Target int64
	// Failed is "<firmware id>:<sha256>" of an image the node refused;
	// empty when none.
	Failed string
	// Counted is the firmware id counted in ota_updates_total.
	Counted int64
}

const otaSchema = `
CREATE TABLE IF NOT EXISTS ota (
	serial  TEXT PRIMARY KEY,
	target  INTEGER NOT NULL DEFAULT 0,
	failed  TEXT NOT NULL DEFAULT '',
	counted INTEGER NOT NULL DEFAULT 0
);`

// OTAState returns what the relay recorded of serial; zero when nothing.
func (q *Queue) OTAState(ctx context.Context, serial string) (OTAState, error) {
	var st OTAState
	err := q.db.QueryRowContext(ctx, `SELECT target, failed, counted FROM ota WHERE serial = ?`, serial).Scan(&st.Target, &st.Failed, &st.Counted)
	if errors.Is(err, sql.ErrNoRows) {
		return OTAState{}, nil
	}
	if err != nil {
		return OTAState{}, fmt.Errorf("queue OTA state %s: %w", serial, err)
	}
	return st, nil
}

// SetOTAState records st for serial, durably.
func (q *Queue) SetOTAState(ctx context.Context, serial string, st OTAState) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO ota (serial, target, failed, counted) VALUES (?, ?, ?, ?)
ON CONFLICT (serial) DO UPDATE SET target = excluded.target, failed = excluded.failed, counted = excluded.counted`,
		serial, st.Target, st.Failed, st.Counted)
	if err != nil {
		return fmt.Errorf("queue set OTA state %s: %w", serial, err)
	}
	return nil
}
