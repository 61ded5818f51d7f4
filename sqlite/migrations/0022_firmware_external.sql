-- 0022_firmware_external: a firmware image's bytes may live in S3/MinIO
-- (VIBEMON_BLOB_URL) instead of here: such a row keeps an empty data
-- column and its size and digest (vibemon.FirmwareImage.External).
--
-- SQLite cannot change the CHECK on data in place, so the table is rebuilt
-- (as 0010 rebuilt rules), keeping its id counter. Dropping the old table
-- runs device_settings' ON DELETE SET NULL on every target firmware, so the
-- targets are saved first and put back.

CREATE TABLE firmware_images_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    version    TEXT    NOT NULL,
    hardware   TEXT    NOT NULL,
    size       INTEGER NOT NULL CHECK (size BETWEEN 1 AND 4194304),
    sha256     TEXT    NOT NULL,
    signature  TEXT    NOT NULL,
    notes      TEXT    NOT NULL DEFAULT '',
    data       BLOB    NOT NULL CHECK (length(data) IN (0, size)),
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, hardware, version)
);
INSERT INTO firmware_images_new (id, org_id, version, hardware, size, sha256, signature, notes, data, created_at)
SELECT id, org_id, version, hardware, size, sha256, signature, notes, data, created_at FROM firmware_images;

CREATE TEMP TABLE firmware_targets AS
    SELECT device_id, target_firmware_id FROM device_settings WHERE target_firmware_id IS NOT NULL;
CREATE TEMP TABLE firmware_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'firmware_images';
DROP TABLE firmware_images;
ALTER TABLE firmware_images_new RENAME TO firmware_images;
INSERT INTO firmware_seq SELECT seq FROM sqlite_sequence WHERE name = 'firmware_images';
DELETE FROM sqlite_sequence WHERE name = 'firmware_images';
INSERT INTO sqlite_sequence (name, seq) SELECT 'firmware_images', max(seq) FROM firmware_seq HAVING max(seq) IS NOT NULL;
UPDATE device_settings SET target_firmware_id =
    (SELECT t.target_firmware_id FROM firmware_targets t WHERE t.device_id = device_settings.device_id)
    WHERE device_id IN (SELECT device_id FROM firmware_targets);
DROP TABLE firmware_targets;
DROP TABLE firmware_seq;
