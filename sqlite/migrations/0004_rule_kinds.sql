-- 0004_rule_kinds: rule kinds (threshold | diagnosis), minimum durations, and
-- per-asset maintenance windows that silence new alerts.

ALTER TABLE rules ADD COLUMN kind              TEXT    NOT NULL DEFAULT 'threshold' CHECK (kind IN ('threshold', 'diagnosis'));
ALTER TABLE rules ADD COLUMN fault             TEXT    NOT NULL DEFAULT '';
ALTER TABLE rules ADD COLUMN min_confidence    REAL    NOT NULL DEFAULT 0;
ALTER TABLE rules ADD COLUMN for_seconds       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rules ADD COLUMN clear_for_seconds INTEGER NOT NULL DEFAULT 0;

-- The built-in "Diagnosis: <fault>" rules were placeholder threshold rules
-- (kurtosis_x above 1000, clear 0) that could never fire; say what they are.
UPDATE rules SET kind = 'diagnosis', fault = substr(name, 12), min_confidence = 0.6,
    metric = '', op = '', threshold = 0, clear = 0
WHERE name LIKE 'Diagnosis: %' AND metric = 'kurtosis_x' AND op = 'above' AND threshold = 1000;

CREATE TABLE maintenance_windows (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    asset_id   INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    from_ts    INTEGER NOT NULL,
    to_ts      INTEGER NOT NULL CHECK (to_ts > from_ts),
    reason     TEXT    NOT NULL,
    created_by INTEGER NOT NULL, -- user id, 0: unknown
    created_at INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_org ON maintenance_windows(org_id, to_ts);
CREATE INDEX maintenance_windows_asset ON maintenance_windows(asset_id, from_ts);
