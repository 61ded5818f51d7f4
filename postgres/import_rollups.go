package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// rollupImportSQL returns the statement that writes one rollup row into
// table, replacing the bucket's row if there is one.
func rollupImportSQL(table string) string {
	cols := []string{"device_id", "bucket_start", "count"}
	for i := range vibemon.NumMetrics {
		m := vibemon.Metric(i).String()
		cols = append(cols, m+"_n", m+"_sum", m+"_min", m+"_max")
	}
	params := make([]string, len(cols))
	sets := make([]string, 0, len(cols)-2)
	for i, c := range cols {
		params[i] = fmt.Sprintf("$%d", i+1)
		if i >= 2 {
			sets = append(sets, c+" = excluded."+c)
		}
	}
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (device_id, bucket_start) DO UPDATE SET " + strings.Join(sets, ", ")
}

// ImportRollups writes rollup rows copied from another store (what its
// pruned readings contributed) into table, replacing each bucket's row:
// `vibemon migrate` writes them before the device's readings, whose
// minute deltas the merge then adds on top (rollup.go).
func (s *Store) ImportRollups(ctx context.Context, table string, rows []*migrate.RollupRow) error {
	if _, ok := migrate.RollupWidth[table]; !ok {
		return fmt.Errorf("import rollups: %q is not a rollup table", table)
	}
	if len(rows) == 0 {
		return nil
	}
	q := rollupImportSQL(table)
	return s.tx(ctx, "import "+table, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range rows {
			args := make([]any, 0, 3+4*vibemon.NumMetrics)
			args = append(args, r.DeviceID, utc(r.BucketStart), r.Count)
			for i := range vibemon.NumMetrics {
				args = append(args, r.N[i], r.Sum[i], nanNull(r.Min[i]), nanNull(r.Max[i]))
			}
			b.Queue(q, args...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// nanNull is v, or NULL for NaN.
func nanNull(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// CountRolledUpByDevice returns, per device, how many readings its daily
// rollups count, with the minute deltas not merged yet and the readings the
// merge has still to roll up from the table (rollup.go), as a bucketed
// query counts them.
func (s *Store) CountRolledUpByDevice(ctx context.Context) (map[int64]int64, error) {
	parts := "SELECT device_id, count FROM rollup_1d UNION ALL SELECT device_id, count FROM rollup_delta " +
		"UNION ALL SELECT device_id, 1 FROM readings WHERE raw_rollup AND ts >= (SELECT materialized_to FROM rollup_watermark)"
	if s.caggs.Load() {
		// With continuous aggregates: each org's daily aggregate, and the
		// imported history and readings older than the retention cutoff
		// in rollup_1d and the deltas (caggs.go).
		orgs, err := caggOrgs(ctx, s.pool)
		if err != nil {
			return nil, mapErr("count rolled-up readings", err)
		}
		parts = "SELECT device_id, count FROM rollup_1d UNION ALL SELECT device_id, count FROM rollup_delta"
		for _, o := range orgs {
			parts += " UNION ALL SELECT device_id, count FROM " + pgx.Identifier{caggName(2, o)}.Sanitize()
		}
	}
	rows, err := s.pool.Query(ctx, "SELECT device_id, sum(count)::bigint FROM ("+parts+") r GROUP BY device_id")
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
