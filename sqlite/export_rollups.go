package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// This file hands `vibemon migrate` what readings pruned by retention left
// in the rollups (the rollups are kept when raw readings go), so the
// target's charts reach as far back as this store's.

// OldestReading returns the ts of the device's oldest reading.
func (s *Store) OldestReading(ctx context.Context, deviceID int64) (time.Time, bool, error) {
	var ms sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT min(ts) FROM readings WHERE device_id = ?", deviceID).Scan(&ms); err != nil {
		return time.Time{}, false, mapErr("oldest reading", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return msTime(ms.Int64), true, nil
}

// ExportPrunedRollups returns the part of the device's rollup rows that
// readings no longer stored contributed (see migrate.Source).
func (s *Store) ExportPrunedRollups(ctx context.Context, deviceID int64, table string, oldest, after time.Time, limit int) ([]*migrate.RollupRow, error) {
	width, ok := migrate.RollupWidth[table]
	if !ok {
		return nil, fmt.Errorf("export pruned rollups: %q is not a rollup table", table)
	}
	w := width.Milliseconds()
	until, shared := int64(math.MaxInt64), int64(math.MaxInt64)
	if !oldest.IsZero() {
		shared = floorTo(oldest.UnixMilli(), w)
		until = shared
	}
	from := int64(math.MinInt64)
	if !after.IsZero() {
		from = after.UnixMilli()
	}
	cols := []string{"bucket_start", "count", "min_seq", "max_seq"}
	for _, m := range metricCols() {
		cols = append(cols, m+"_n", m+"_sum", m+"_min", m+"_max")
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+table+
		" WHERE device_id = ? AND bucket_start > ? AND bucket_start <= ? ORDER BY bucket_start LIMIT ?", deviceID, from, until, limit)
	if err != nil {
		return nil, mapErr("export pruned rollups", err)
	}
	type seqs struct{ lo, hi int64 }
	var out []*migrate.RollupRow
	var sharedSeqs *seqs
	dst := make([]any, len(cols))
	var start, minSeq, maxSeq int64
	var mins, maxs [vibemon.NumMetrics]sql.NullFloat64
	for rows.Next() {
		r := &migrate.RollupRow{DeviceID: deviceID}
		dst[0], dst[1], dst[2], dst[3] = &start, &r.Count, &minSeq, &maxSeq
		for i := range vibemon.NumMetrics {
			dst[4+4*i], dst[5+4*i], dst[6+4*i], dst[7+4*i] = &r.N[i], &r.Sum[i], &mins[i], &maxs[i]
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return nil, mapErr("export pruned rollups", err)
		}
		r.BucketStart = msTime(start)
		for i := range vibemon.NumMetrics {
			r.Min[i], r.Max[i] = nullNaN(mins[i]), nullNaN(maxs[i])
		}
		if start == shared {
			sharedSeqs = &seqs{minSeq, maxSeq}
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("export pruned rollups", err)
	}
	if sharedSeqs != nil {
		// The bucket of the oldest kept reading: take away what the kept
		// readings in it add (they are copied, and add it back).
		r := out[len(out)-1]
		q := []string{"count(*)"}
		for _, m := range metricCols() {
			q = append(q, "count("+m+")", "total("+m+")")
		}
		vals := make([]any, 1+2*vibemon.NumMetrics)
		var n int64
		var ns [vibemon.NumMetrics]int64
		var sums [vibemon.NumMetrics]float64
		vals[0] = &n
		for i := range vibemon.NumMetrics {
			vals[1+2*i], vals[2+2*i] = &ns[i], &sums[i]
		}
		err := s.rdb.QueryRowContext(ctx, "SELECT "+strings.Join(q, ", ")+
			" FROM readings WHERE device_id = ? AND seq BETWEEN ? AND ? AND ts >= ? AND ts < ?",
			deviceID, sharedSeqs.lo, sharedSeqs.hi, shared, shared+w).Scan(vals...)
		if err != nil {
			return nil, mapErr("export pruned rollups", err)
		}
		r.Count -= n
		for i := range vibemon.NumMetrics {
			r.N[i] -= ns[i]
			r.Sum[i] -= sums[i]
		}
		if r.Count <= 0 {
			out = out[:len(out)-1]
		}
	}
	return out, nil
}

// CountRolledUpByDevice returns, per device, how many readings its daily
// rollups count.
func (s *Store) CountRolledUpByDevice(ctx context.Context) (map[int64]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT device_id, sum(count) FROM rollup_1d GROUP BY device_id")
	if err != nil {
		return nil, mapErr("count rolled-up readings", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, mapErr("count rolled-up readings", err)
		}
		out[id] = n
	}
	return out, mapErr("count rolled-up readings", rows.Err())
}
