-- 0010_rule_kinds_more: the rule kinds iso_zone, anomaly, forecast and
-- offline, and threshold rules with several conditions (AND/OR).
--
-- SQLite cannot change the CHECK on rules.kind in place, so the table is
-- rebuilt (nothing references it by foreign key: alerts outlive their rule)
-- and its id counter is kept, so that the id of a deleted rule, which old
-- alerts still carry, is never given out again.

CREATE TABLE rules_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id               INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    asset_id             INTEGER NOT NULL, -- 0: any
    device_id            INTEGER NOT NULL, -- 0: any
    metric               TEXT    NOT NULL,
    op                   TEXT    NOT NULL,
    threshold            REAL    NOT NULL,
    clear                REAL    NOT NULL,
    severity             TEXT    NOT NULL,
    enabled              INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    kind                 TEXT    NOT NULL DEFAULT 'threshold'
        CHECK (kind IN ('threshold', 'diagnosis', 'iso_zone', 'anomaly', 'forecast', 'offline')),
    fault                TEXT    NOT NULL DEFAULT '',
    min_confidence       REAL    NOT NULL DEFAULT 0,
    for_seconds          INTEGER NOT NULL DEFAULT 0,
    clear_for_seconds    INTEGER NOT NULL DEFAULT 0,
    remind_every_minutes INTEGER NOT NULL DEFAULT 0,
    escalation           TEXT    NOT NULL DEFAULT '[]', -- JSON [{after_minutes, user_ids}]
    zone                 TEXT    NOT NULL DEFAULT '',   -- iso_zone: C, D, alarm, trip
    within_days          INTEGER NOT NULL DEFAULT 0,    -- forecast
    offline_minutes      INTEGER NOT NULL DEFAULT 0,    -- offline
    conditions           TEXT    NOT NULL DEFAULT '[]', -- JSON [{metric, op, threshold, clear}]
    match_mode           TEXT    NOT NULL DEFAULT 'all' CHECK (match_mode IN ('all', 'any'))
);

INSERT INTO rules_new (id, org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
    kind, fault, min_confidence, for_seconds, clear_for_seconds, remind_every_minutes, escalation)
SELECT id, org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
    kind, fault, min_confidence, for_seconds, clear_for_seconds, remind_every_minutes, escalation
FROM rules;

CREATE TEMP TABLE rules_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'rules';
DROP TABLE rules;
ALTER TABLE rules_new RENAME TO rules;
CREATE INDEX rules_org ON rules(org_id, id);
INSERT INTO rules_seq SELECT seq FROM sqlite_sequence WHERE name = 'rules';
DELETE FROM sqlite_sequence WHERE name = 'rules';
INSERT INTO sqlite_sequence (name, seq) SELECT 'rules', max(seq) FROM rules_seq HAVING max(seq) IS NOT NULL;
DROP TABLE rules_seq;
