-- 0011_firmware: what the server wants each node to run (settings the
-- gateway applies, server wins), signed firmware images (stored here as
-- BLOBs, at most vibemon.MaxFirmwareBytes = 4 MiB each), and the latest OTA
-- progress a gateway reported per device.

CREATE TABLE firmware_images (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    version    TEXT    NOT NULL,
    hardware   TEXT    NOT NULL,
    size       INTEGER NOT NULL CHECK (size BETWEEN 1 AND 4194304),
    sha256     TEXT    NOT NULL,
    signature  TEXT    NOT NULL,
    notes      TEXT    NOT NULL DEFAULT '',
    data       BLOB    NOT NULL CHECK (length(data) = size),
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, hardware, version)
);

CREATE TABLE device_settings (
    device_id          INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    interval_s         INTEGER NOT NULL DEFAULT 0,
    range_g            INTEGER NOT NULL DEFAULT 0,
    sample_rate_hz     INTEGER NOT NULL DEFAULT 0,
    window_samples     INTEGER NOT NULL DEFAULT 0,
    target_firmware_id INTEGER REFERENCES firmware_images(id) ON DELETE SET NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE device_ota_status (
    device_id   INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    firmware_id INTEGER NOT NULL DEFAULT 0,
    version     TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL,
    bytes_done  INTEGER NOT NULL,
    bytes_total INTEGER NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL
);
