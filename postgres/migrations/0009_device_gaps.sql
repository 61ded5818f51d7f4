-- 0009_device_gaps: runs of a device's sequence numbers a gateway reported
-- lost (queue_full, node_ring_overflow, rejected), so completeness can say
-- why a hole is there. Unique per range and reason: reports are retried.

CREATE TABLE device_gaps (
    device_id  bigint      NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    from_seq   bigint      NOT NULL CHECK (from_seq BETWEEN 0 AND 4294967295),
    to_seq     bigint      NOT NULL CHECK (to_seq BETWEEN from_seq AND 4294967295),
    reason     text        NOT NULL,
    at         timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, from_seq, to_seq, reason)
);
