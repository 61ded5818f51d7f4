-- 0002_waveforms: raw bursts with their analyses, and per-device trained models.

CREATE TABLE waveforms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    ts              INTEGER NOT NULL,
    sample_rate_hz  REAL    NOT NULL,
    axes            INTEGER NOT NULL CHECK (axes BETWEEN 1 AND 3),
    samples         INTEGER NOT NULL,
    scale           REAL    NOT NULL,
    data            BLOB    NOT NULL, -- little-endian int16, interleaved by axis
    analysis_status TEXT    NOT NULL CHECK (analysis_status IN ('pending', 'done', 'failed')),
    analysis        BLOB,
    created_at      INTEGER NOT NULL
);
CREATE INDEX waveforms_device_ts ON waveforms(device_id, ts);

CREATE TABLE models (
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    rows       INTEGER NOT NULL,
    trained_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, kind)
) WITHOUT ROWID;
