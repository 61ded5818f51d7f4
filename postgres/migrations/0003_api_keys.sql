-- 0003_api_keys: long-lived bearer keys for machines (gateways). Only the
-- key's SHA-256 is stored.

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         text        NOT NULL,
    role         text        NOT NULL,
    prefix       text        NOT NULL,
    hash         text        NOT NULL UNIQUE,
    created_by   bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys(org_id, id);
