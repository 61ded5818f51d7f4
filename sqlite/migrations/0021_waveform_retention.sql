-- 0021_waveform_retention: how many days an org's raw bursts (waveforms)
-- are kept; 0 keeps them forever. Pruned by the retention job with the
-- readings (docs/postgres.md, "Retention").
ALTER TABLE orgs ADD COLUMN waveform_retention_days INTEGER NOT NULL DEFAULT 0;
CREATE INDEX waveforms_org_ts ON waveforms (org_id, ts);
