package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// Continuous aggregates (docs/postgres.md, "Continuous aggregates"): on a
// hypertable schema created with Options.ContinuousAggregates, each org has
// three TimescaleDB continuous aggregates with real-time aggregation in
// place of the store's rollup tables:
//
//	stats_1m_o<org>     readings JOIN devices of the org, by minute
//	hourly_stats_o<org> stats_1m_o<org>, by hour
//	daily_stats_o<org>  hourly_stats_o<org>, by day
//
// One per org, because TimescaleDB recomputes a refreshed range from what
// is left of its source: an aggregate over every org would lose the kept
// stats of an org with a short retention at the first refresh over its
// deleted readings. Per org, each refresh window stays inside the org's
// own retention:
//
//   - stats_1m reads the readings, which retention deletes before the
//     minute of the org's cutoff (pruned_before; whole minutes, so that
//     the cutoff's minute can be recomputed): its windows start at that
//     minute, and its rows before the cutoff's hour are deleted with the
//     readings (1-minute stats go with the readings, as in the rollup
//     tables);
//   - hourly_stats reads stats_1m, whose rows of the cutoff's hour are
//     kept: its windows start at that hour;
//   - daily_stats reads hourly_stats, which nothing deletes.
//
// Its refresh policies (TimescaleDB's background workers run them) start
// their windows an hour inside the retention; the store's merge refreshes
// the three from the cutoff to a minute ago (refreshOrg), and so does an
// ingest of readings older than 30 seconds before it answers
// (refreshLate), so that a gateway's backlog shows in the hourly and daily
// stats at once, not at the next policy run. Ingest marks no reading and
// writes deltas only for readings older than their org's cutoff (which
// no refresh reaches); the rollup tables keep those and what `vibemon
// migrate` imports of a source's pruned history, and the queries add them.
//
// The choice is made when a schema's readings become a hypertable and is
// kept by the schema: the continuous_aggregates table (one row per org,
// with the retention its policies were made for) exists exactly when it
// was made.

// caggLevel is one of an org's three aggregates.
type caggLevel struct {
	prefix string
	width  time.Duration
	// schedule is how often its refresh policy runs; the policy refreshes
	// the buckets that ended at least one width ago (end_offset).
	schedule string
}

// caggLevels are in the order of rollups (minute, hour, day): each is built
// on the one before.
var caggLevels = [3]caggLevel{
	{"stats_1m", time.Minute, "1 minute"},
	{"hourly_stats", time.Hour, "10 minutes"},
	{"daily_stats", 24 * time.Hour, "1 hour"},
}

// caggName is the aggregate of level i of org.
func caggName(i int, org int64) string { return fmt.Sprintf("%s_o%d", caggLevels[i].prefix, org) }

// caggLate: readings older than this when they are stored may be older
// than the minute aggregate's watermark (the merge refreshes it to
// rollupLag ago; the margin is for a database clock ahead of this one),
// so their ranges are refreshed before InsertReadings returns.
const caggLate = rollupLag - 30*time.Second

// ContinuousAggregates reports whether the store keeps its stats in
// TimescaleDB continuous aggregates (see Options.ContinuousAggregates).
func (s *Store) ContinuousAggregates() bool { return s.caggs.Load() }

// setupAggregates decides, after setupTimescale, where a hypertable
// schema's stats live: in continuous aggregates if the schema has them, or
// if Options.ContinuousAggregates asks for them and nothing is stored yet;
// otherwise in the rollup tables. With continuous aggregates it creates
// those of orgs that lack them (an org created by an older binary) and
// sets each org's policies to its retention.
func (s *Store) setupAggregates(ctx context.Context) error {
	var exists, empty bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('continuous_aggregates') IS NOT NULL,
		NOT EXISTS (SELECT 1 FROM readings) AND NOT EXISTS (SELECT 1 FROM rollup_1d) AND NOT EXISTS (SELECT 1 FROM rollup_delta)`).Scan(&exists, &empty); err != nil {
		return mapErr("continuous aggregates", err)
	}
	switch {
	case exists && !s.hypertable.Load():
		return errors.New("continuous aggregates: this schema keeps its stats in continuous aggregates, but readings is not a hypertable; was the timescaledb extension removed?")
	case !exists && (!s.opts.ContinuousAggregates || !s.hypertable.Load()):
		return nil // plain PostgreSQL, or not asked for: the rollup tables
	case !exists && !empty:
		s.log.Info("this database was created with its stats in rollup tables and keeps them; continuous aggregates are chosen when a database is created (docs/postgres.md)")
		return nil
	}
	err := s.tx(ctx, "continuous aggregates", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS continuous_aggregates (org_id bigint PRIMARY KEY, retention_days int NOT NULL)"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT o.id, o.retention_days FROM orgs o LEFT JOIN continuous_aggregates c ON c.org_id = o.id
			WHERE c.retention_days IS DISTINCT FROM o.retention_days ORDER BY o.id`)
		if err != nil {
			return err
		}
		type org struct {
			ID   int64
			Days int32
		}
		orgs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[org])
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if err := s.ensureOrgAggregates(ctx, tx, o.ID, o.Days); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.caggs.Store(true)
	return nil
}

// ensureOrgAggregates creates org's aggregates if they do not exist and
// sets their refresh policies for a retention of days (0: unlimited), in
// tx (TimescaleDB creates an aggregate WITH NO DATA and its policies
// transactionally). A new aggregate is empty and reads everything from the
// readings (real-time aggregation) until a refresh materializes it.
func (s *Store) ensureOrgAggregates(ctx context.Context, tx pgx.Tx, org int64, days int32) error {
	var done bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM continuous_aggregates WHERE org_id = $1 AND retention_days = $2)", org, days).Scan(&done); err != nil || done {
		return err
	}
	for i := range caggLevels {
		if _, err := tx.Exec(ctx, s.caggSQL(i, org)); err != nil {
			return fmt.Errorf("create %s: %w", caggName(i, org), err)
		}
	}
	for i, l := range caggLevels {
		name := quoteLiteral(caggName(i, org))
		// The window starts an hour inside the retention (see the package
		// comment); the daily aggregate reads hourly stats, which are
		// never deleted, so its window has no start.
		start := "NULL"
		if days > 0 && i < 2 {
			start = fmt.Sprintf("interval '%d hours'", 24*int(days)-1)
		}
		if _, err := tx.Exec(ctx, "SELECT "+s.tsFuncs+"remove_continuous_aggregate_policy("+name+", if_exists => true)"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("SELECT %sadd_continuous_aggregate_policy(%s, start_offset => %s, end_offset => interval '%d seconds', schedule_interval => interval '%s')",
			s.tsFuncs, name, start, int(l.width.Seconds()), l.schedule)); err != nil {
			return err
		}
	}
	var added bool
	if err := tx.QueryRow(ctx, `INSERT INTO continuous_aggregates (org_id, retention_days) VALUES ($1, $2)
		ON CONFLICT (org_id) DO UPDATE SET retention_days = excluded.retention_days RETURNING xmax = 0`, org, days).Scan(&added); err != nil || !added {
		return err
	}
	return unionViews(ctx, tx)
}

// unionViews (re)creates the views stats_1m, hourly_stats and daily_stats:
// every org's aggregate of that level with its org_id, for SQL written by
// hand (Grafana, psql). Under the schema's advisory lock, so that two new
// orgs do not replace them at once.
func unionViews(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
		return err
	}
	orgs, err := caggOrgs(ctx, tx)
	if err != nil {
		return err
	}
	for i, l := range caggLevels {
		parts := make([]string, len(orgs))
		for j, o := range orgs {
			parts[j] = fmt.Sprintf("SELECT %d::bigint AS org_id, * FROM %s", o, pgx.Identifier{caggName(i, o)}.Sanitize())
		}
		if _, err := tx.Exec(ctx, "CREATE OR REPLACE VIEW "+l.prefix+" AS "+strings.Join(parts, " UNION ALL ")); err != nil {
			return err
		}
	}
	return nil
}

// orgAggregatesTx is ensureOrgAggregates for the org of a CreateOrg or
// UpdateOrg transaction, on a store with continuous aggregates.
func (s *Store) orgAggregatesTx(ctx context.Context, tx pgx.Tx, o *vibemon.Org) error {
	if !s.caggs.Load() {
		return nil
	}
	return s.ensureOrgAggregates(ctx, tx, o.ID, int32(o.RetentionDays))
}

// caggSQL creates the aggregate of level i of org: per device and bucket
// the count and, per metric, n, sum (0 when n is 0), min and max, the
// columns of the rollup tables.
func (s *Store) caggSQL(i int, org int64) string {
	l := caggLevels[i]
	width := fmt.Sprintf("interval '%d seconds'", int(l.width.Seconds()))
	var cols []string
	var from string
	if i == 0 {
		cols = append(cols, "r.device_id", s.tsFuncs+"time_bucket("+width+", r.ts) AS bucket_start", "count(*) AS count")
		for _, m := range metricCols() {
			cols = append(cols, fmt.Sprintf("count(r.%[1]s) AS %[1]s_n, coalesce(sum(r.%[1]s), 0) AS %[1]s_sum, min(r.%[1]s) AS %[1]s_min, max(r.%[1]s) AS %[1]s_max", m))
		}
		from = fmt.Sprintf("readings r JOIN devices d ON d.id = r.device_id WHERE d.org_id = %d", org)
	} else {
		cols = append(cols, "device_id", s.tsFuncs+"time_bucket("+width+", bucket_start) AS bucket_start", "sum(count)::bigint AS count")
		for _, m := range metricCols() {
			cols = append(cols, fmt.Sprintf("sum(%[1]s_n)::bigint AS %[1]s_n, sum(%[1]s_sum) AS %[1]s_sum, min(%[1]s_min) AS %[1]s_min, max(%[1]s_max) AS %[1]s_max", m))
		}
		from = pgx.Identifier{caggName(i-1, org)}.Sanitize()
	}
	return fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS SELECT %s FROM %s GROUP BY 1, 2 WITH NO DATA",
		pgx.Identifier{caggName(i, org)}.Sanitize(), strings.Join(cols, ", "), from)
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// refreshOrg refreshes org's three aggregates, in order (each reads the
// one before), from the org's beginning to the buckets that ended before
// to. TimescaleDB recomputes only what changed in that range and
// materializes what is new, so the whole range costs no more than the
// changed part of it; and a range that always starts at the beginning
// keeps the materialized range whole (a refresh of later buckets alone
// would raise the watermark over older readings not materialized yet,
// hiding them from the queries). pruned is the org's retention cutoff:
// the minute aggregate's window starts at its minute (PruneReadings
// deletes the readings of the minutes before it), the others' at its hour
// (the minute rows of that hour are kept; see the package comment).
func (s *Store) refreshOrg(ctx context.Context, org int64, pruned *time.Time, to time.Time) error {
	// Callers of this replica queue here, not on the database lock, so
	// that a plant's gateways syncing at once hold one connection between
	// them, not one each.
	turn, _ := s.refreshTurns.LoadOrStore(org, make(chan struct{}, 1))
	select {
	case turn.(chan struct{}) <- struct{}{}:
		defer func() { <-turn.(chan struct{}) }()
	case <-ctx.Done():
		return mapErr("refresh continuous aggregates", ctx.Err())
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr("refresh continuous aggregates", err)
	}
	defer c.Release()
	const key = "hashtextextended('vibemon:caggs:' || current_schema() || ':' || $1::bigint::text, 0)"
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock("+key+")", org); err != nil {
		c.Conn().Close(context.Background()) // it may hold the lock all the same
		return mapErr("refresh continuous aggregates", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Exec(uctx, "SELECT pg_advisory_unlock("+key+")", org); err != nil {
			c.Conn().Close(uctx)
		}
	}()
	var minutesFrom, from time.Time // zero: from the beginning
	if pruned != nil {
		cut := pruned.UTC()
		minutesFrom = cut // rounded down below: PruneReadings keeps the cutoff's minute
		from = cut.Truncate(time.Hour)
	}
	for i, l := range caggLevels {
		f := from
		if i == 0 {
			f = minutesFrom
		}
		end := to.Truncate(l.width)
		var start any // NULL: from the beginning
		if !f.IsZero() {
			t := f.Truncate(l.width)
			if !t.Before(end) {
				continue
			}
			start = t
		}
		// refresh_continuous_aggregate cannot run in a transaction: a
		// statement of its own.
		for attempt := 1; ; attempt++ {
			_, err := c.Exec(ctx, "CALL "+s.tsFuncs+"refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
				caggName(i, org), start, end)
			if err == nil {
				break
			}
			if attempt == 3 || ctx.Err() != nil {
				return mapErr("refresh "+caggName(i, org), err)
			}
			s.log.Warn("refresh of a continuous aggregate failed; trying again", "aggregate", caggName(i, org), "attempt", attempt, "err", err)
			select {
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// refreshAggregates is the merge on a store with continuous aggregates:
// each org's aggregates refreshed from its retention cutoff to until.
func (s *Store) refreshAggregates(ctx context.Context, until time.Time) error {
	rows, err := s.pool.Query(ctx, "SELECT o.id, o.pruned_before FROM orgs o JOIN continuous_aggregates c ON c.org_id = o.id ORDER BY o.id")
	if err != nil {
		return mapErr("refresh continuous aggregates", err)
	}
	type org struct {
		ID     int64
		Pruned *time.Time
	}
	orgs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[org])
	if err != nil {
		return mapErr("refresh continuous aggregates", err)
	}
	for _, o := range orgs {
		if err := s.refreshOrg(ctx, o.ID, o.Pruned, until); err != nil {
			return err
		}
	}
	return nil
}

// refreshLate refreshes org's aggregates to a minute ago after an ingest
// of readings older than caggLate: readings below an aggregate's watermark
// are not in it until a refresh covers them. A failure is logged and
// counted, not returned: the readings are stored, and the next merge
// refreshes them.
func (s *Store) refreshLate(ctx context.Context, org int64) {
	var pruned *time.Time
	err := s.pool.QueryRow(ctx, "SELECT pruned_before FROM orgs WHERE id = $1", org).Scan(&pruned)
	if err == nil {
		err = s.refreshOrg(ctx, org, pruned, s.now().Add(-rollupLag))
	}
	if err != nil && !s.isClosed() {
		s.ing.lateRefreshFailed.Add(1)
		s.log.Error("refreshing the continuous aggregates after a late ingest failed; its readings show in the hourly and daily stats after the next merge", "org", org, "err", mapErr("refresh continuous aggregates", err))
	}
}

// caggBucketSQL is bucketSQL on a store with continuous aggregates: the
// org's aggregate of the bucket's level (real-time: materialized buckets
// and, after its watermark, the readings aggregated by the query), and the
// rollup table's rows and the deltas, which hold only imported history and
// readings stored older than the org's retention cutoff (see plan).
func caggBucketSQL(i int, org int64, ms []vibemon.Metric) string {
	cols := make([]string, 0, 4*len(ms))
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		n := m.String()
		cols = append(cols, n+"_n", n+"_sum", n+"_min", n+"_max")
		names = append(names, n)
	}
	c := strings.Join(cols, ", ")
	return fmt.Sprintf(`(SELECT bucket_start, count, %[1]s FROM %[2]s
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start LIMIT $4)
UNION ALL
(SELECT bucket_start, count, %[1]s FROM %[3]s
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start LIMIT $4)
UNION ALL
(SELECT date_bin('%[4]s', bucket_start, timestamptz 'epoch') AS b, sum(count)::bigint, %[5]s FROM rollup_delta
	WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $5 GROUP BY b)`,
		c, pgx.Identifier{caggName(i, org)}.Sanitize(), rollups[i].table, rollups[i].width, strings.Join(deltaAggs(names), ", "))
}

// pruneMinuteAggregate deletes device's rows of org's minute aggregate
// before before (the cutoff's hour: see the package comment), a day per
// statement, from its materialization hypertable (an aggregate's view
// takes no DELETE; TimescaleDB's drop_chunks would go by whole chunks of
// every device), and returns how many.
func (s *Store) pruneMinuteAggregate(ctx context.Context, org, device int64, before time.Time) (int64, error) {
	table, err := materialization(ctx, s.pool, 0, org)
	if err != nil {
		return 0, mapErr("prune minute stats", err)
	}
	return s.pruneMinutes(ctx, table, device, before)
}

// materialization returns the materialization hypertable of the aggregate
// of level i of org, quoted: the table its rows are in.
func materialization(ctx context.Context, q querier, i int, org int64) (string, error) {
	var table string
	err := q.QueryRow(ctx, `SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
		FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema() AND view_name = $1`, caggName(i, org)).Scan(&table)
	return table, err
}

// refreshAfterIngest calls refreshLate when the new readings of a stored
// InsertReadings call (isNew) include some older than caggLate.
func (s *Store) refreshAfterIngest(ctx context.Context, org int64, rs []vibemon.Reading, isNew []bool) {
	late := s.now().Add(-caggLate)
	for i, fresh := range isNew {
		if fresh && rs[i].TS.Before(late) {
			s.refreshLate(ctx, org)
			return
		}
	}
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// caggOrgs returns the orgs that have continuous aggregates.
func caggOrgs(ctx context.Context, q querier) ([]int64, error) {
	rows, err := q.Query(ctx, "SELECT org_id FROM continuous_aggregates ORDER BY org_id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// anyLate reports whether reqs hold a reading older than caggLate.
func (s *Store) anyLate(reqs []*ingestReq) bool {
	late := s.now().Add(-caggLate)
	for _, r := range reqs {
		for i := range r.rs {
			if r.rs[i].TS.Before(late) {
				return true
			}
		}
	}
	return false
}

// queuePrunedBefore queues the read of the retention cutoffs of reqs'
// orgs, for plan, and returns the map it fills.
func (s *Store) queuePrunedBefore(b *pgx.Batch, reqs []*ingestReq) map[int64]time.Time {
	orgs := make([]int64, 0, len(reqs))
	for _, r := range reqs {
		orgs = append(orgs, r.orgID)
	}
	pruned := map[int64]time.Time{}
	b.Queue("SELECT id, pruned_before FROM orgs WHERE id = ANY($1) AND pruned_before IS NOT NULL", orgs).Query(func(rows pgx.Rows) error {
		var id int64
		var t time.Time
		_, err := pgx.ForEachRow(rows, []any{&id, &t}, func() error { pruned[id] = t; return nil })
		return err
	})
	return pruned
}

// AggregatePolicyStarts returns the start_offset of the refresh policy of
// each of org's aggregates (minute, hour, day) as TimescaleDB shows an
// interval, "" where the window has no start.
func (s *Store) AggregatePolicyStarts(ctx context.Context, org int64) ([]string, error) {
	out := make([]string, len(caggLevels))
	for i := range caggLevels {
		var start *string
		if err := s.pool.QueryRow(ctx, `SELECT j.config->>'start_offset' FROM timescaledb_information.jobs j
			JOIN _timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = (j.config->>'mat_hypertable_id')::int
			WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND c.user_view_schema = current_schema() AND c.user_view_name = $1`,
			caggName(i, org)).Scan(&start); err != nil {
			return nil, mapErr("continuous aggregate policies", err)
		}
		if start != nil {
			out[i] = *start
		}
	}
	return out, nil
}
