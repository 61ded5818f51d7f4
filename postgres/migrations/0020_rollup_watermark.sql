-- 0020_rollup_watermark: current readings are rolled up from the readings
-- table by the merge instead of through rollup_delta (docs/postgres.md,
-- "Rollups"). A reading whose ts is at or after ingest_from when it is
-- stored is marked raw_rollup and writes no delta; the merge adds the
-- marked readings of [materialized_to, ingest_from) to the rollups and moves
-- materialized_to up in the same statement, and queries aggregate the marked
-- readings at or after materialized_to themselves. Older ("late") readings
-- still append deltas. Ingest transactions hold a shared advisory lock on
-- the epoch they read ingest_from in; the merge raises ingest_from in a new
-- epoch and then waits for the holders of the older ones, so no reading it
-- has not seen can land below the new ingest_from unmarked.
ALTER TABLE readings ADD COLUMN raw_rollup boolean;

CREATE TABLE rollup_watermark (
    one             boolean     PRIMARY KEY DEFAULT true CHECK (one),
    epoch           bigint      NOT NULL,  -- raised with ingest_from
    waited          bigint      NOT NULL,  -- every ingest of an epoch up to this one has ended
    ingest_from     timestamptz NOT NULL,  -- readings at or after it are marked raw_rollup
    materialized_to timestamptz NOT NULL   -- marked readings before it are in the rollups
);
-- Everything stored so far went through deltas: start both at now.
INSERT INTO rollup_watermark VALUES (true, 1, 0, now(), now());
