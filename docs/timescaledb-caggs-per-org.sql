-- What would make continuous aggregates right for VibeMon (docs/postgres.md, TimescaleDB):
-- one aggregate per organization (a JOIN with devices picks the org's readings), each refreshed
-- by a policy whose window ends before the org's own retention cutoff.
-- Run with psql against the PGlite TimescaleDB peer (cd postgres/testdata/pglite && node server.mjs 55433;
-- password postgres) or any TimescaleDB >= 2.10. Results on 2.23.0-dev: 73, 61, 73, 73.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE devices (id int PRIMARY KEY, org_id int NOT NULL);
INSERT INTO devices VALUES (1, 1), (2, 2);
CREATE TABLE r (device_id int NOT NULL, ts timestamptz NOT NULL, v float8);
SELECT create_hypertable('r', by_range('ts', interval '1 day'));
INSERT INTO r SELECT d, now() - interval '2 hours' - g * interval '1 minute', 1 FROM generate_series(1, 2) d, generate_series(0, 3*1440) g;
CREATE MATERIALIZED VIEW hourly_o1 WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
  SELECT r.device_id, time_bucket('1 hour', r.ts) AS bucket, count(*) AS n FROM r JOIN devices d ON d.id = r.device_id WHERE d.org_id = 1 GROUP BY 1, 2 WITH NO DATA;
CREATE MATERIALIZED VIEW hourly_o2 WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
  SELECT r.device_id, time_bucket('1 hour', r.ts) AS bucket, count(*) AS n FROM r JOIN devices d ON d.id = r.device_id WHERE d.org_id = 2 GROUP BY 1, 2 WITH NO DATA;
CALL refresh_continuous_aggregate('hourly_o1', NULL, now() - interval '1 hour');
CALL refresh_continuous_aggregate('hourly_o2', NULL, now() - interval '1 hour');
-- org 1 keeps readings a year, org 2 a day: each org's refresh window ends before its retention cutoff
SELECT add_continuous_aggregate_policy('hourly_o1', start_offset => interval '364 days', end_offset => interval '1 hour', schedule_interval => interval '5 minutes') AS job1 \gset
SELECT add_continuous_aggregate_policy('hourly_o2', start_offset => interval '23 hours', end_offset => interval '1 hour', schedule_interval => interval '5 minutes') AS job2 \gset
SELECT count(*) AS "org 2 hourly buckets at first" FROM hourly_o2;
INSERT INTO r VALUES (1, date_trunc('hour', now()) - interval '30 hours' + interval '90 seconds', 1);
DELETE FROM r WHERE device_id = 2 AND ts < now() - interval '24 hours';
CALL run_job(:job1);
CALL run_job(:job2);
SELECT n AS "org 1 hourly n 30 h ago (61 = the late reading counted)" FROM hourly_o1 WHERE device_id = 1 AND bucket = date_trunc('hour', now()) - interval '30 hours';
SELECT count(*) AS "org 2 hourly buckets after both policies (kept = same as at first)" FROM hourly_o2;
SELECT count(*) AS "org 1 hourly buckets" FROM hourly_o1;
