-- 0007_retention: per-org retention of raw readings in days (0: keep
-- forever). The PruneReadings job deletes older readings; rollups stay.
ALTER TABLE orgs ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0
    CHECK (retention_days BETWEEN 0 AND 36500);
