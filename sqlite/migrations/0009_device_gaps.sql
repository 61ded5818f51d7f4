-- 0009_device_gaps: runs of a device's sequence numbers a gateway reported
-- lost (queue_full, node_ring_overflow, rejected), so completeness can say
-- why a hole is there. Unique per range and reason: reports are retried.

CREATE TABLE device_gaps (
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    from_seq   INTEGER NOT NULL CHECK (from_seq BETWEEN 0 AND 4294967295),
    to_seq     INTEGER NOT NULL CHECK (to_seq BETWEEN from_seq AND 4294967295),
    reason     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, from_seq, to_seq, reason)
) WITHOUT ROWID;
