-- 0006_notifications: per-user notification preferences and addresses, push
-- tokens, Telegram link codes, org webhooks, the dispatcher's cursor and the
-- delivery ledger (one row per idempotency key).

CREATE TABLE notification_prefs (
    user_id          bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    org_id           bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    channels         text    NOT NULL, -- comma-separated
    min_severity     text    NOT NULL,
    asset_ids        text    NOT NULL, -- JSON array
    quiet_start      text    NOT NULL,
    quiet_end        text    NOT NULL,
    time_zone        text    NOT NULL,
    digest           boolean NOT NULL,
    digest_hour      bigint NOT NULL,
    email            text    NOT NULL,
    telegram_chat_id text    NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);
CREATE INDEX notification_prefs_org ON notification_prefs(org_id, user_id);

CREATE TABLE telegram_links (
    code_hash  text    PRIMARY KEY, -- SHA-256 of the /start code, hex
    org_id     bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    bigint NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    chat_id    text    NOT NULL DEFAULT '' -- the chat that used it
);

CREATE TABLE push_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token      text    NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE INDEX push_tokens_user ON push_tokens(user_id, id);

CREATE TABLE webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         text    NOT NULL,
    url          text    NOT NULL,
    secret       text    NOT NULL,
    min_severity text    NOT NULL,
    enabled      boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX webhooks_org ON webhooks(org_id, id);

CREATE TABLE notify_cursors (
    name     text    PRIMARY KEY,
    position bigint NOT NULL
);
-- An installation that had alerts before this version gets their timeline
-- from migration 0005; the dispatcher starts after it, so upgrading does not
-- notify everybody of every old alert.
INSERT INTO notify_cursors (name, position)
SELECT 'alert_events', coalesce(max(id), 0) FROM alert_events;

CREATE TABLE notification_deliveries (
    key        text    PRIMARY KEY, -- the idempotency key
    org_id     bigint NOT NULL,
    event_id   bigint NOT NULL,
    alert_id   bigint NOT NULL,
    user_id    bigint NOT NULL, -- 0 for webhooks
    webhook_id bigint NOT NULL, -- 0 for users
    channel    text    NOT NULL,
    status     text    NOT NULL CHECK (status IN ('sending', 'delivered', 'failed', 'batched', 'summarized')),
    attempts   bigint NOT NULL,
    error      text    NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX notification_deliveries_recipient ON notification_deliveries(user_id, channel, status, updated_at);
