-- 0005_alert_events: the alert lifecycle. Every alert gets a timeline of
-- events (also the outbox the notification dispatcher reads), an assignee
-- and an escalation level; rules get reminders and an escalation policy.

ALTER TABLE rules
    ADD COLUMN remind_every_minutes integer NOT NULL DEFAULT 0,
    ADD COLUMN escalation           jsonb   NOT NULL DEFAULT '[]'; -- [{after_minutes, user_ids}]

ALTER TABLE alerts
    ADD COLUMN assignee_id      bigint  NOT NULL DEFAULT 0,
    ADD COLUMN escalation_level integer NOT NULL DEFAULT 0,
    ADD COLUMN reminded_at      timestamptz; -- when the last reminder fell due

-- Ids increase in commit order: every insert takes the transaction-level
-- advisory lock alertEventsLockKey (postgres/alert.go) just before it, as
-- the last lock of its transaction.
CREATE TABLE alert_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    alert_id    bigint      NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    kind        text        NOT NULL CHECK (kind IN ('opened', 'acknowledged', 'assigned', 'commented', 'reminded', 'escalated', 'resolved')),
    at          timestamptz NOT NULL,
    user_id     bigint      NOT NULL DEFAULT 0, -- 0: the system
    assignee_id bigint      NOT NULL DEFAULT 0,
    level       integer     NOT NULL DEFAULT 0,
    comment     text        NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);

-- The timeline of the alerts that existed before: what their rows say.
INSERT INTO alert_events (org_id, alert_id, kind, at, user_id, comment)
SELECT org_id, id, kind, at, user_id, comment FROM (
    SELECT org_id, id, 'opened' AS kind, opened_at AS at, 0::bigint AS user_id, '' AS comment, 1 AS ord FROM alerts
    UNION ALL
    SELECT org_id, id, 'acknowledged', acked_at, acked_by, ack_comment, 2 FROM alerts WHERE acked_at IS NOT NULL
    UNION ALL
    SELECT org_id, id, 'resolved', resolved_at, resolved_by, '', 3 FROM alerts WHERE resolved_at IS NOT NULL
) t ORDER BY id, ord;
