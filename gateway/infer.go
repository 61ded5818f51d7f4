package gateway

import (
	"context"
	"fmt"
)

// Inferring losses. Summaries are numbered densely (docs/protocol.md), so
// when a completeness check acknowledges [floor, S) every seq in that range
// the queue holds no row for is a summary the node no longer has: its ring
// overwrote it (unsent, reported by an EventDataLost the radio may have
// dropped; or sent but never received, which the node does not report).
// The check records such seqs as node_ring_overflow gaps before the node
// is told to forget them, so the server's ledger explains them either way.
// Only for a floor this gateway acknowledged itself: a gateway that never
// acknowledged the node (floor 0, e.g. a replaced gateway) cannot tell
// another gateway's acknowledgements from losses.

// missingRanges returns the runs of seqs in [from, to) for which the queue
// holds neither a reading (pending, uploaded or dropped) nor a gap.
func (q *Queue) missingRanges(ctx context.Context, serial string, from, to uint32) ([]Gap, error) {
	have := map[uint32]bool{}
	rows, err := q.db.QueryContext(ctx, `SELECT seq FROM readings WHERE serial = ? AND seq >= ? AND seq < ?`, serial, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
		}
		have[uint32(s)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
	}
	grows, err := q.db.QueryContext(ctx, `SELECT first, count FROM gaps WHERE serial = ? AND first < ? AND first + count > ?`, serial, int64(to), int64(from))
	if err != nil {
		return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
	}
	for grows.Next() {
		var first, count int64
		if err := grows.Scan(&first, &count); err != nil {
			grows.Close()
			return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
		}
		for s := max(first, int64(from)); s < first+count && s < int64(to); s++ {
			have[uint32(s)] = true
		}
	}
	grows.Close()
	if err := grows.Err(); err != nil {
		return nil, fmt.Errorf("queue missing seqs %s: %w", serial, err)
	}
	var out []Gap
	for s := from; s != to; s++ {
		if have[s] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].First+out[n-1].Count == s {
			out[n-1].Count++
		} else {
			out = append(out, Gap{Serial: serial, First: s, Count: 1, Reason: GapNodeOverflow})
		}
	}
	return out, nil
}

// recordInferredLoss records the seqs in [from, to) the queue has no trace
// of as node_ring_overflow gaps, durably, before the acknowledgement.
func (s *nodeSession) recordInferredLoss(ctx context.Context, from, to uint32) error {
	q := s.g.cfg.Queue
	gs, err := q.missingRanges(ctx, s.serial, from, to)
	if err != nil || len(gs) == 0 {
		return err
	}
	var n uint32
	for _, g := range gs {
		q.AddGap(g)
		n += g.Count
	}
	s.g.log.Warn("node lost summaries without a report (inferred at acknowledgement)", "serial", s.serial, "count", n, "first_seq", gs[0].First)
	return q.Flush(ctx)
}
