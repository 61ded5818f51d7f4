-- Why VibeMon's rollups are not TimescaleDB continuous aggregates (docs/postgres.md, TimescaleDB):
-- run with psql against the PGlite TimescaleDB peer (cd postgres/testdata/pglite && node server.mjs 0)
-- or any TimescaleDB 2.x. Results on 2.23.0-dev: 60, 73, 61, 49.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE r (device_id int NOT NULL, ts timestamptz NOT NULL, v float8);
SELECT create_hypertable('r', by_range('ts', interval '1 day'));
-- two orgs' devices (1 and 2), a reading a minute for three days, ending 2 hours ago
INSERT INTO r SELECT d, now() - interval '2 hours' - g * interval '1 minute', 1 FROM generate_series(1, 2) d, generate_series(0, 3*1440) g;
CREATE MATERIALIZED VIEW hourly_stats WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
  SELECT device_id, time_bucket('1 hour', ts) AS bucket, count(*) AS n FROM r GROUP BY 1, 2 WITH NO DATA;
CALL refresh_continuous_aggregate('hourly_stats', NULL, now() - interval '1 hour');
\echo 1. a late reading of device 1, 30 hours old, below the watermark (a gateway's queue):
INSERT INTO r VALUES (1, date_trunc('hour', now()) - interval '30 hours' + interval '90 seconds', 1);
SELECT n AS "hourly n, device 1, 30 h ago (61 = counted)" FROM hourly_stats WHERE device_id = 1 AND bucket = date_trunc('hour', now()) - interval '30 hours';
\echo 2. per-org retention deletes device 2's raw readings older than 24 h, whose hourly stats must stay:
DELETE FROM r WHERE device_id = 2 AND ts < now() - interval '24 hours';
SELECT count(*) AS "device 2 hourly buckets before a refresh" FROM hourly_stats WHERE device_id = 2;
\echo a refresh of the late reading's hour, as a policy or the store would run for it:
CALL refresh_continuous_aggregate('hourly_stats', date_trunc('hour', now()) - interval '48 hours', date_trunc('hour', now()) - interval '1 hour');
SELECT n AS "hourly n, device 1, 30 h ago" FROM hourly_stats WHERE device_id = 1 AND bucket = date_trunc('hour', now()) - interval '30 hours';
SELECT count(*) AS "device 2 hourly buckets after the refresh" FROM hourly_stats WHERE device_id = 2;
