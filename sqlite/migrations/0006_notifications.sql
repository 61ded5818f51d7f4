-- 0006_notifications: per-user notification preferences and addresses, push
-- tokens, Telegram link codes, org webhooks, the dispatcher's cursor and the
-- delivery ledger (one row per idempotency key).

CREATE TABLE notification_prefs (
    user_id          INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    channels         TEXT    NOT NULL, -- comma-separated
    min_severity     TEXT    NOT NULL,
    asset_ids        TEXT    NOT NULL, -- JSON array
    quiet_start      TEXT    NOT NULL,
    quiet_end        TEXT    NOT NULL,
    time_zone        TEXT    NOT NULL,
    digest           INTEGER NOT NULL,
    digest_hour      INTEGER NOT NULL,
    email            TEXT    NOT NULL,
    telegram_chat_id TEXT    NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL
);
CREATE INDEX notification_prefs_org ON notification_prefs(org_id, user_id);

CREATE TABLE telegram_links (
    code_hash  TEXT    PRIMARY KEY, -- SHA-256 of the /start code, hex
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    chat_id    TEXT    NOT NULL DEFAULT '' -- the chat that used it
);

CREATE TABLE push_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token      TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_tokens_user ON push_tokens(user_id, id);

CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    secret       TEXT    NOT NULL,
    min_severity TEXT    NOT NULL,
    enabled      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks(org_id, id);

CREATE TABLE notify_cursors (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);
-- An installation that had alerts before this version gets their timeline
-- from migration 0005; the dispatcher starts after it, so upgrading does not
-- notify everybody of every old alert.
INSERT INTO notify_cursors (name, position)
SELECT 'alert_events', coalesce(max(id), 0) FROM alert_events;

CREATE TABLE notification_deliveries (
    key        TEXT    PRIMARY KEY, -- the idempotency key
    org_id     INTEGER NOT NULL,
    event_id   INTEGER NOT NULL,
    alert_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL, -- 0 for webhooks
    webhook_id INTEGER NOT NULL, -- 0 for users
    channel    TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('sending', 'delivered', 'failed', 'batched', 'summarized')),
    attempts   INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notification_deliveries_recipient ON notification_deliveries(user_id, channel, status, updated_at);
