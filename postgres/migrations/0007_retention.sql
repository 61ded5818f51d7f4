-- 0007_retention: per-org retention of raw readings in days (0: keep
-- forever). The PruneReadings job drops whole daily partitions older than
-- the longest retention and deletes older rows of orgs with a shorter one;
-- rollups stay.
ALTER TABLE orgs ADD COLUMN retention_days integer NOT NULL DEFAULT 0
    CHECK (retention_days BETWEEN 0 AND 36500);
