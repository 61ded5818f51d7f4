-- 0015_pruned_before: the time before which retention has deleted an org's
-- raw readings (NULL: never pruned). Ingest refuses readings older than it
-- even after retention_days is raised, so a pruned reading sent again is
-- not stored and rolled up a second time (docs/postgres.md, "Retention").
ALTER TABLE orgs ADD COLUMN pruned_before timestamptz;
