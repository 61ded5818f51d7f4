-- 0018_reading_seen_512: the idempotency bitmaps of reading_seen cover 512
-- sequence numbers per row instead of 4096 (block = seq >> 9, bit seq & 511,
-- counted from the left). Every ingest transaction rewrites one row per
-- device it touches (the claim); at 64 bytes instead of 512 that rewrite,
-- its WAL and its dead versions are an eighth, and the POST -> WebSocket
-- latency at 20,000 readings/s fell by about a fifth (docs/benchmarks.md).
-- Each old row becomes the up to eight new rows of its non-empty eighths;
-- each keeps the old row's ts_max (the newest reading of the old block: an
-- upper bound, so retention prunes a new row no earlier than the old one).
CREATE TABLE reading_seen_512 (
    device_id bigint      NOT NULL,
    block     bigint      NOT NULL CHECK (block BETWEEN 0 AND 8388607), -- seq >> 9; seq is 32-bit
    bits      bit(512)    NOT NULL, -- bit (seq & 511), counted from the left, is set when stored
    ts_max    timestamptz NOT NULL, -- the latest ts of the block's readings, for retention
    PRIMARY KEY (device_id, block)
) WITH (fillfactor = 80);

INSERT INTO reading_seen_512 (device_id, block, bits, ts_max)
SELECT s.device_id, s.block * 8 + i, substring(s.bits FROM i * 512 + 1 FOR 512)::bit(512), s.ts_max
FROM reading_seen s CROSS JOIN generate_series(0, 7) AS i
WHERE bit_count(substring(s.bits FROM i * 512 + 1 FOR 512)) > 0;

DROP TABLE reading_seen;
ALTER TABLE reading_seen_512 RENAME TO reading_seen;
ALTER INDEX reading_seen_512_pkey RENAME TO reading_seen_pkey;
