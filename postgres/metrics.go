package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors returns the store's metrics for Prometheus; register them once
// per store:
//
//   - vibemon_pg_ingest_calls_total, _transactions_total,
//     _fast_transactions_total, _retries_total, _readings_total and
//     _new_readings_total: the ingest path (IngestStats). Retries that grow
//     with the transactions mean gateways resending batches, or replicas
//     storing the same readings at once.
//   - vibemon_pg_pool_acquired_conns, _idle_conns, _total_conns and
//     _max_conns, and vibemon_pg_pool_empty_acquires_total and
//     _acquire_wait_seconds_total: the connection pool; acquires that had to
//     wait mean MaxConns (VIBEMON_DATABASE_URL's pool_max_conns) is too small
//     for the load.
//   - vibemon_pg_rollup_lag_seconds: how far the rollup watermark's
//     materialized_to is behind the database's clock, read at each scrape
//     (a second at most; left out when the database does not answer).
//     Normally about a minute plus the merge interval; it grows when no
//     worker merges (docs/postgres.md, "Rollups").
//   - On a TimescaleDB hypertable, vibemon_pg_readings_chunks and
//     _compressed_chunks, and vibemon_pg_readings_compressed_bytes_before
//     and _after (the compressed chunks' size before and after
//     compression), read at each scrape like the lag: chunks that stay
//     uncompressed mean the compression policy does not run.
func (s *Store) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vibemon_pg_ingest_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	pool := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vibemon_pg_pool_" + name, Help: help}, f)
	}
	poolCounter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vibemon_pg_pool_" + name, Help: help}, f)
	}
	return []prometheus.Collector{
		counter("calls_total", "InsertReadings calls that reached the database.", &s.ing.calls),
		counter("transactions_total", "Ingest transactions committed.", &s.ing.txs),
		counter("fast_transactions_total", "Ingest transactions committed without a read round trip (devices known to this process).", &s.ing.fast),
		counter("retries_total", "Ingest transactions run again: readings stored meanwhile by another transaction, a device deleted, or a new rollup epoch.", &s.ing.retries),
		counter("readings_total", "Readings received by committed ingest transactions.", &s.ing.readings),
		counter("new_readings_total", "Readings stored for the first time.", &s.ing.fresh),
		pool("acquired_conns", "Connections of the pool in use.", func() float64 { return float64(s.pool.Stat().AcquiredConns()) }),
		pool("idle_conns", "Connections of the pool open and idle.", func() float64 { return float64(s.pool.Stat().IdleConns()) }),
		pool("total_conns", "Connections of the pool open.", func() float64 { return float64(s.pool.Stat().TotalConns()) }),
		pool("max_conns", "The pool's size.", func() float64 { return float64(s.pool.Stat().MaxConns()) }),
		poolCounter("empty_acquires_total", "Acquires that waited for a connection because none was idle.", func() float64 { return float64(s.pool.Stat().EmptyAcquireCount()) }),
		poolCounter("acquire_wait_seconds_total", "Time spent acquiring connections.", func() float64 { return s.pool.Stat().AcquireDuration().Seconds() }),
		&lagCollector{s: s, desc: prometheus.NewDesc("vibemon_pg_rollup_lag_seconds",
			"How far the rollups' materialized_to is behind the database's clock (read at scrape time).", nil, nil)},
		&compressionCollector{s: s, descs: [4]*prometheus.Desc{
			prometheus.NewDesc("vibemon_pg_readings_chunks", "Chunks of the readings hypertable (TimescaleDB).", nil, nil),
			prometheus.NewDesc("vibemon_pg_readings_compressed_chunks", "Chunks of the readings hypertable that are compressed.", nil, nil),
			prometheus.NewDesc("vibemon_pg_readings_compressed_bytes_before", "Size of the compressed chunks of readings before compression (table, indexes, TOAST).", nil, nil),
			prometheus.NewDesc("vibemon_pg_readings_compressed_bytes_after", "Size of the compressed chunks of readings after compression.", nil, nil),
		}},
	}
}

// compressionCollector reads the hypertable's compression stats at scrape
// time; nothing on native partitions or when the database does not answer
// within a second.
type compressionCollector struct {
	s     *Store
	descs [4]*prometheus.Desc
}

func (c *compressionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *compressionCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.s.hypertable.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.s.CompressionStats(ctx)
	if err != nil {
		return
	}
	for i, v := range []int64{st.Chunks, st.Compressed, st.Before, st.After} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, float64(v))
	}
}

// lagCollector reads the rollup watermark at scrape time.
type lagCollector struct {
	s    *Store
	desc *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect leaves the metric out when the database does not answer within a
// second: a scrape must not fail, or hang, because of one value.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var lag float64
	if err := c.s.pool.QueryRow(ctx, "SELECT extract(epoch FROM now() - materialized_to)::float8 FROM rollup_watermark").Scan(&lag); err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, lag)
}
