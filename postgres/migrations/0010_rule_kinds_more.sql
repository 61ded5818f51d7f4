-- 0010_rule_kinds_more: the rule kinds iso_zone, anomaly, forecast and
-- offline, and threshold rules with several conditions (AND/OR).

ALTER TABLE rules DROP CONSTRAINT rules_kind_check;
ALTER TABLE rules
    ADD CONSTRAINT rules_kind_check CHECK (kind IN ('threshold', 'diagnosis', 'iso_zone', 'anomaly', 'forecast', 'offline')),
    ADD COLUMN zone            text    NOT NULL DEFAULT '',   -- iso_zone: C, D, alarm, trip
    ADD COLUMN within_days     integer NOT NULL DEFAULT 0,    -- forecast
    ADD COLUMN offline_minutes integer NOT NULL DEFAULT 0,    -- offline
    ADD COLUMN conditions      jsonb   NOT NULL DEFAULT '[]', -- [{metric, op, threshold, clear}]
    ADD COLUMN match_mode      text    NOT NULL DEFAULT 'all' CHECK (match_mode IN ('all', 'any'));
