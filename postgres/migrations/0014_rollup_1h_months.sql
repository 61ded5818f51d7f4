-- 0014_rollup_1h_months: rollup_1h becomes partitioned by month (UTC), so
-- that a month that has ended can be rewritten in (device, hour) order
-- (ReorderRollups, docs/postgres.md "Rollup layout"). The merge writes a
-- month's rows hour by hour across all devices; one device's 30 days then
-- sit on ~720 pages, against ~30 once the month is rewritten. Existing rows
-- are copied into their months here, already in that order.

ALTER TABLE rollup_1h RENAME TO rollup_1h_unpartitioned;
ALTER INDEX rollup_1h_pkey RENAME TO rollup_1h_unpartitioned_pkey;

CREATE TABLE rollup_1h (
    LIKE rollup_1h_unpartitioned INCLUDING DEFAULTS,
    PRIMARY KEY (device_id, bucket_start)
) PARTITION BY RANGE (bucket_start);
CREATE TABLE rollup_1h_default PARTITION OF rollup_1h DEFAULT WITH (fillfactor = 80);

DO $$
DECLARE m timestamptz;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', bucket_start, 'UTC') FROM rollup_1h_unpartitioned LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF rollup_1h FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 80)',
            'rollup_1h_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'), m, ((m AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END $$;

INSERT INTO rollup_1h SELECT * FROM rollup_1h_unpartitioned ORDER BY device_id, bucket_start;
DROP TABLE rollup_1h_unpartitioned;

-- The months rewritten in (device, hour) order, so each is rewritten once.
CREATE TABLE rollup_reordered (
    partition    text PRIMARY KEY,
    reordered_at timestamptz NOT NULL,
    row_count    bigint NOT NULL
);
