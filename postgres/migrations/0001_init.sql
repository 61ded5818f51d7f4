-- 0001_init: tenants, users, sessions, assets, devices, readings, rollups,
-- rules, alerts, waveforms, models. Times are timestamptz (UTC, microseconds).
-- IDs are identity columns, so an id never names two different rows.

CREATE TABLE orgs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email         text        NOT NULL,
    email_key     text        NOT NULL UNIQUE, -- lower-cased e-mail: unique across orgs
    name          text        NOT NULL,
    role          text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX users_org ON users(org_id, id);

CREATE TABLE sessions (
    token_hash text        PRIMARY KEY,
    family_id  text        NOT NULL,
    user_id    bigint      NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id     bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX sessions_family ON sessions(family_id);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE assets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint           NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       text             NOT NULL,
    type       text             NOT NULL,
    rpm        double precision NOT NULL,
    iso_group  integer          NOT NULL,
    foundation text             NOT NULL,
    bearing    text             NOT NULL,
    created_at timestamptz      NOT NULL
);
CREATE INDEX assets_org ON assets(org_id, id);

CREATE TABLE devices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id           bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    asset_id         bigint      REFERENCES assets(id) ON DELETE SET NULL,
    serial           text        NOT NULL,
    name             text        NOT NULL,
    firmware_version text        NOT NULL,
    last_seen_at     timestamptz,
    battery_v        double precision,
    created_at       timestamptz NOT NULL,
    UNIQUE (org_id, serial)
);
CREATE INDEX devices_asset ON devices(asset_id);

-- reading_keys is the idempotency key of readings: a partitioned table's
-- primary key must include the partition key (ts), and a resent reading may
-- carry another ts, so (device_id, seq) is kept unique here, in the same
-- transaction as the reading. ts is kept for retention (delete the keys of
-- dropped partitions).
CREATE TABLE reading_keys (
    device_id bigint      NOT NULL,
    seq       bigint      NOT NULL CHECK (seq BETWEEN 0 AND 4294967295),
    ts        timestamptz NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- readings is range-partitioned by day on ts. Store.EnsurePartitions
-- creates the partitions around now ahead of time; readings outside them
-- land in readings_default and move into their partition when it is made.
CREATE TABLE readings (
    device_id  bigint      NOT NULL,
    seq        bigint      NOT NULL,
    ts         timestamptz NOT NULL,
    acc_rms_x  double precision,
    acc_rms_y  double precision,
    acc_rms_z  double precision,
    acc_peak_x double precision,
    acc_peak_y double precision,
    acc_peak_z double precision,
    vel_rms_x  double precision,
    vel_rms_y  double precision,
    vel_rms_z  double precision,
    crest_x    double precision,
    crest_y    double precision,
    crest_z    double precision,
    kurtosis_x double precision,
    kurtosis_y double precision,
    kurtosis_z double precision,
    temp_c     double precision,
    battery_v  double precision,
    rssi_dbm   double precision
) PARTITION BY RANGE (ts);
CREATE INDEX readings_device_ts ON readings (device_id, ts, seq);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;

CREATE TABLE rollup_1m (
    device_id    bigint      NOT NULL,
    bucket_start timestamptz NOT NULL,
    count        bigint      NOT NULL,
    acc_rms_x_n bigint NOT NULL DEFAULT 0,
    acc_rms_x_sum double precision NOT NULL DEFAULT 0,
    acc_rms_x_min double precision,
    acc_rms_x_max double precision,
    acc_rms_y_n bigint NOT NULL DEFAULT 0,
    acc_rms_y_sum double precision NOT NULL DEFAULT 0,
    acc_rms_y_min double precision,
    acc_rms_y_max double precision,
    acc_rms_z_n bigint NOT NULL DEFAULT 0,
    acc_rms_z_sum double precision NOT NULL DEFAULT 0,
    acc_rms_z_min double precision,
    acc_rms_z_max double precision,
    acc_peak_x_n bigint NOT NULL DEFAULT 0,
    acc_peak_x_sum double precision NOT NULL DEFAULT 0,
    acc_peak_x_min double precision,
    acc_peak_x_max double precision,
    acc_peak_y_n bigint NOT NULL DEFAULT 0,
    acc_peak_y_sum double precision NOT NULL DEFAULT 0,
    acc_peak_y_min double precision,
    acc_peak_y_max double precision,
    acc_peak_z_n bigint NOT NULL DEFAULT 0,
    acc_peak_z_sum double precision NOT NULL DEFAULT 0,
    acc_peak_z_min double precision,
    acc_peak_z_max double precision,
    vel_rms_x_n bigint NOT NULL DEFAULT 0,
    vel_rms_x_sum double precision NOT NULL DEFAULT 0,
    vel_rms_x_min double precision,
    vel_rms_x_max double precision,
    vel_rms_y_n bigint NOT NULL DEFAULT 0,
    vel_rms_y_sum double precision NOT NULL DEFAULT 0,
    vel_rms_y_min double precision,
    vel_rms_y_max double precision,
    vel_rms_z_n bigint NOT NULL DEFAULT 0,
    vel_rms_z_sum double precision NOT NULL DEFAULT 0,
    vel_rms_z_min double precision,
    vel_rms_z_max double precision,
    crest_x_n bigint NOT NULL DEFAULT 0,
    crest_x_sum double precision NOT NULL DEFAULT 0,
    crest_x_min double precision,
    crest_x_max double precision,
    crest_y_n bigint NOT NULL DEFAULT 0,
    crest_y_sum double precision NOT NULL DEFAULT 0,
    crest_y_min double precision,
    crest_y_max double precision,
    crest_z_n bigint NOT NULL DEFAULT 0,
    crest_z_sum double precision NOT NULL DEFAULT 0,
    crest_z_min double precision,
    crest_z_max double precision,
    kurtosis_x_n bigint NOT NULL DEFAULT 0,
    kurtosis_x_sum double precision NOT NULL DEFAULT 0,
    kurtosis_x_min double precision,
    kurtosis_x_max double precision,
    kurtosis_y_n bigint NOT NULL DEFAULT 0,
    kurtosis_y_sum double precision NOT NULL DEFAULT 0,
    kurtosis_y_min double precision,
    kurtosis_y_max double precision,
    kurtosis_z_n bigint NOT NULL DEFAULT 0,
    kurtosis_z_sum double precision NOT NULL DEFAULT 0,
    kurtosis_z_min double precision,
    kurtosis_z_max double precision,
    temp_c_n bigint NOT NULL DEFAULT 0,
    temp_c_sum double precision NOT NULL DEFAULT 0,
    temp_c_min double precision,
    temp_c_max double precision,
    battery_v_n bigint NOT NULL DEFAULT 0,
    battery_v_sum double precision NOT NULL DEFAULT 0,
    battery_v_min double precision,
    battery_v_max double precision,
    rssi_dbm_n bigint NOT NULL DEFAULT 0,
    rssi_dbm_sum double precision NOT NULL DEFAULT 0,
    rssi_dbm_min double precision,
    rssi_dbm_max double precision,
    PRIMARY KEY (device_id, bucket_start)
);

CREATE TABLE rollup_1h (
    device_id    bigint      NOT NULL,
    bucket_start timestamptz NOT NULL,
    count        bigint      NOT NULL,
    acc_rms_x_n bigint NOT NULL DEFAULT 0,
    acc_rms_x_sum double precision NOT NULL DEFAULT 0,
    acc_rms_x_min double precision,
    acc_rms_x_max double precision,
    acc_rms_y_n bigint NOT NULL DEFAULT 0,
    acc_rms_y_sum double precision NOT NULL DEFAULT 0,
    acc_rms_y_min double precision,
    acc_rms_y_max double precision,
    acc_rms_z_n bigint NOT NULL DEFAULT 0,
    acc_rms_z_sum double precision NOT NULL DEFAULT 0,
    acc_rms_z_min double precision,
    acc_rms_z_max double precision,
    acc_peak_x_n bigint NOT NULL DEFAULT 0,
    acc_peak_x_sum double precision NOT NULL DEFAULT 0,
    acc_peak_x_min double precision,
    acc_peak_x_max double precision,
    acc_peak_y_n bigint NOT NULL DEFAULT 0,
    acc_peak_y_sum double precision NOT NULL DEFAULT 0,
    acc_peak_y_min double precision,
    acc_peak_y_max double precision,
    acc_peak_z_n bigint NOT NULL DEFAULT 0,
    acc_peak_z_sum double precision NOT NULL DEFAULT 0,
    acc_peak_z_min double precision,
    acc_peak_z_max double precision,
    vel_rms_x_n bigint NOT NULL DEFAULT 0,
    vel_rms_x_sum double precision NOT NULL DEFAULT 0,
    vel_rms_x_min double precision,
    vel_rms_x_max double precision,
    vel_rms_y_n bigint NOT NULL DEFAULT 0,
    vel_rms_y_sum double precision NOT NULL DEFAULT 0,
    vel_rms_y_min double precision,
    vel_rms_y_max double precision,
    vel_rms_z_n bigint NOT NULL DEFAULT 0,
    vel_rms_z_sum double precision NOT NULL DEFAULT 0,
    vel_rms_z_min double precision,
    vel_rms_z_max double precision,
    crest_x_n bigint NOT NULL DEFAULT 0,
    crest_x_sum double precision NOT NULL DEFAULT 0,
    crest_x_min double precision,
    crest_x_max double precision,
    crest_y_n bigint NOT NULL DEFAULT 0,
    crest_y_sum double precision NOT NULL DEFAULT 0,
    crest_y_min double precision,
    crest_y_max double precision,
    crest_z_n bigint NOT NULL DEFAULT 0,
    crest_z_sum double precision NOT NULL DEFAULT 0,
    crest_z_min double precision,
    crest_z_max double precision,
    kurtosis_x_n bigint NOT NULL DEFAULT 0,
    kurtosis_x_sum double precision NOT NULL DEFAULT 0,
    kurtosis_x_min double precision,
    kurtosis_x_max double precision,
    kurtosis_y_n bigint NOT NULL DEFAULT 0,
    kurtosis_y_sum double precision NOT NULL DEFAULT 0,
    kurtosis_y_min double precision,
    kurtosis_y_max double precision,
    kurtosis_z_n bigint NOT NULL DEFAULT 0,
    kurtosis_z_sum double precision NOT NULL DEFAULT 0,
    kurtosis_z_min double precision,
    kurtosis_z_max double precision,
    temp_c_n bigint NOT NULL DEFAULT 0,
    temp_c_sum double precision NOT NULL DEFAULT 0,
    temp_c_min double precision,
    temp_c_max double precision,
    battery_v_n bigint NOT NULL DEFAULT 0,
    battery_v_sum double precision NOT NULL DEFAULT 0,
    battery_v_min double precision,
    battery_v_max double precision,
    rssi_dbm_n bigint NOT NULL DEFAULT 0,
    rssi_dbm_sum double precision NOT NULL DEFAULT 0,
    rssi_dbm_min double precision,
    rssi_dbm_max double precision,
    PRIMARY KEY (device_id, bucket_start)
);

CREATE TABLE rollup_1d (
    device_id    bigint      NOT NULL,
    bucket_start timestamptz NOT NULL,
    count        bigint      NOT NULL,
    acc_rms_x_n bigint NOT NULL DEFAULT 0,
    acc_rms_x_sum double precision NOT NULL DEFAULT 0,
    acc_rms_x_min double precision,
    acc_rms_x_max double precision,
    acc_rms_y_n bigint NOT NULL DEFAULT 0,
    acc_rms_y_sum double precision NOT NULL DEFAULT 0,
    acc_rms_y_min double precision,
    acc_rms_y_max double precision,
    acc_rms_z_n bigint NOT NULL DEFAULT 0,
    acc_rms_z_sum double precision NOT NULL DEFAULT 0,
    acc_rms_z_min double precision,
    acc_rms_z_max double precision,
    acc_peak_x_n bigint NOT NULL DEFAULT 0,
    acc_peak_x_sum double precision NOT NULL DEFAULT 0,
    acc_peak_x_min double precision,
    acc_peak_x_max double precision,
    acc_peak_y_n bigint NOT NULL DEFAULT 0,
    acc_peak_y_sum double precision NOT NULL DEFAULT 0,
    acc_peak_y_min double precision,
    acc_peak_y_max double precision,
    acc_peak_z_n bigint NOT NULL DEFAULT 0,
    acc_peak_z_sum double precision NOT NULL DEFAULT 0,
    acc_peak_z_min double precision,
    acc_peak_z_max double precision,
    vel_rms_x_n bigint NOT NULL DEFAULT 0,
    vel_rms_x_sum double precision NOT NULL DEFAULT 0,
    vel_rms_x_min double precision,
    vel_rms_x_max double precision,
    vel_rms_y_n bigint NOT NULL DEFAULT 0,
    vel_rms_y_sum double precision NOT NULL DEFAULT 0,
    vel_rms_y_min double precision,
    vel_rms_y_max double precision,
    vel_rms_z_n bigint NOT NULL DEFAULT 0,
    vel_rms_z_sum double precision NOT NULL DEFAULT 0,
    vel_rms_z_min double precision,
    vel_rms_z_max double precision,
    crest_x_n bigint NOT NULL DEFAULT 0,
    crest_x_sum double precision NOT NULL DEFAULT 0,
    crest_x_min double precision,
    crest_x_max double precision,
    crest_y_n bigint NOT NULL DEFAULT 0,
    crest_y_sum double precision NOT NULL DEFAULT 0,
    crest_y_min double precision,
    crest_y_max double precision,
    crest_z_n bigint NOT NULL DEFAULT 0,
    crest_z_sum double precision NOT NULL DEFAULT 0,
    crest_z_min double precision,
    crest_z_max double precision,
    kurtosis_x_n bigint NOT NULL DEFAULT 0,
    kurtosis_x_sum double precision NOT NULL DEFAULT 0,
    kurtosis_x_min double precision,
    kurtosis_x_max double precision,
    kurtosis_y_n bigint NOT NULL DEFAULT 0,
    kurtosis_y_sum double precision NOT NULL DEFAULT 0,
    kurtosis_y_min double precision,
    kurtosis_y_max double precision,
    kurtosis_z_n bigint NOT NULL DEFAULT 0,
    kurtosis_z_sum double precision NOT NULL DEFAULT 0,
    kurtosis_z_min double precision,
    kurtosis_z_max double precision,
    temp_c_n bigint NOT NULL DEFAULT 0,
    temp_c_sum double precision NOT NULL DEFAULT 0,
    temp_c_min double precision,
    temp_c_max double precision,
    battery_v_n bigint NOT NULL DEFAULT 0,
    battery_v_sum double precision NOT NULL DEFAULT 0,
    battery_v_min double precision,
    battery_v_max double precision,
    rssi_dbm_n bigint NOT NULL DEFAULT 0,
    rssi_dbm_sum double precision NOT NULL DEFAULT 0,
    rssi_dbm_min double precision,
    rssi_dbm_max double precision,
    PRIMARY KEY (device_id, bucket_start)
);

CREATE TABLE rules (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint           NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       text             NOT NULL,
    asset_id   bigint           NOT NULL, -- 0: any
    device_id  bigint           NOT NULL, -- 0: any
    metric     text             NOT NULL,
    op         text             NOT NULL,
    threshold  double precision NOT NULL,
    clear      double precision NOT NULL,
    severity   text             NOT NULL,
    enabled    boolean          NOT NULL,
    created_at timestamptz      NOT NULL
);
CREATE INDEX rules_org ON rules(org_id, id);

CREATE TABLE alerts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      bigint           NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    rule_id     bigint           NOT NULL, -- no FK: alerts outlive their rule for the record
    device_id   bigint           NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    asset_id    bigint           NOT NULL,
    severity    text             NOT NULL,
    status      text             NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    metric      text             NOT NULL,
    value       double precision NOT NULL,
    peak        double precision NOT NULL,
    threshold   double precision NOT NULL,
    message     text             NOT NULL,
    opened_at   timestamptz      NOT NULL,
    updated_at  timestamptz      NOT NULL,
    acked_at    timestamptz,
    acked_by    bigint           NOT NULL DEFAULT 0,
    ack_comment text             NOT NULL DEFAULT '',
    resolved_at timestamptz,
    resolved_by bigint           NOT NULL DEFAULT 0
);
-- At most one unresolved alert per (rule, device).
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts(rule_id, device_id) WHERE status <> 'resolved';
CREATE INDEX alerts_org ON alerts(org_id, id);
CREATE INDEX alerts_device ON alerts(device_id);

CREATE TABLE waveforms (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          bigint           NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id       bigint           NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    ts              timestamptz      NOT NULL,
    sample_rate_hz  double precision NOT NULL,
    axes            integer          NOT NULL CHECK (axes BETWEEN 1 AND 3),
    samples         integer          NOT NULL,
    scale           double precision NOT NULL,
    data            bytea            NOT NULL, -- little-endian int16, interleaved by axis
    analysis_status text             NOT NULL CHECK (analysis_status IN ('pending', 'done', 'failed')),
    analysis        bytea,
    created_at      timestamptz      NOT NULL
);
CREATE INDEX waveforms_device_ts ON waveforms(device_id, ts);

CREATE TABLE models (
    org_id     bigint      NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id  bigint      NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    data       bytea       NOT NULL,
    rows       integer     NOT NULL,
    trained_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, kind)
);
