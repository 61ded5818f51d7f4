-- 0012_burst_settings: raw-burst size and trigger become per-device
-- settings the gateway applies (docs/gateway.md, "Settings sync"): how
-- often the gateway asks the node for a burst (seconds) and how many frames
-- per axis. 0 leaves each to the gateway's --burst-every / --burst-frames.

ALTER TABLE device_settings ADD COLUMN burst_every_s INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device_settings ADD COLUMN burst_frames  INTEGER NOT NULL DEFAULT 0;
