-- 0013_rollup_delta: rollups leave the ingest transaction. Ingest appends
-- what each batch adds to each device's minutes (count, n, sum, min, max per
-- metric) to rollup_delta, an append-only table with no unique key, instead
-- of upserting three rollup tables under their rows' locks; a periodic merge
-- moves the deltas into rollup_1m, rollup_1h and rollup_1d in one statement
-- (DELETE ... RETURNING and the upserts commit together), and queries add
-- the deltas not merged yet, so every answer includes every stored reading
-- (docs/postgres.md, "Rollups").

CREATE TABLE rollup_delta (LIKE rollup_1m INCLUDING DEFAULTS);
CREATE INDEX rollup_delta_device ON rollup_delta (device_id, bucket_start);
-- Rows live seconds: vacuum after every few thousand dead ones.
ALTER TABLE rollup_delta SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
