-- 0011_firmware: what the server wants each node to run (settings the
-- gateway applies, server wins), signed firmware images (stored here as
-- bytea, at most vibemon.MaxFirmwareBytes = 4 MiB each), and the latest OTA
-- progress a gateway reported per device.

CREATE TABLE firmware_images (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    version    text        NOT NULL,
    hardware   text        NOT NULL,
    size       bigint      NOT NULL CHECK (size BETWEEN 1 AND 4194304),
    sha256     text        NOT NULL,
    signature  text        NOT NULL,
    notes      text        NOT NULL DEFAULT '',
    data       bytea       NOT NULL CHECK (octet_length(data) = size),
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, hardware, version)
);

CREATE TABLE device_settings (
    device_id          bigint      PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    interval_s         integer     NOT NULL DEFAULT 0,
    range_g            integer     NOT NULL DEFAULT 0,
    sample_rate_hz     integer     NOT NULL DEFAULT 0,
    window_samples     integer     NOT NULL DEFAULT 0,
    target_firmware_id bigint      REFERENCES firmware_images(id) ON DELETE SET NULL,
    updated_at         timestamptz NOT NULL
);

CREATE TABLE device_ota_status (
    device_id   bigint      PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    firmware_id bigint      NOT NULL DEFAULT 0,
    version     text        NOT NULL DEFAULT '',
    state       text        NOT NULL,
    bytes_done  bigint      NOT NULL,
    bytes_total bigint      NOT NULL,
    error       text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL
);
