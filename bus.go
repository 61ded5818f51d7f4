package vibemon

import (
	"context"
	"encoding/json"
	"time"
)

// Event types sent to live clients.
const (
	EventReading  = "reading"
	EventAlert    = "alert"
	EventPresence = "presence"
)

// Event is a live message. Data is the JSON that clients receive as the
// message's "data" field, encoded once by the publisher.
type Event struct {
	Type     string          `json:"type"`
	OrgID    int64           `json:"org_id"`
	DeviceID int64           `json:"device_id,omitempty"`
	AssetID  int64           `json:"asset_id,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// Bus carries events between replicas: inproc.Bus inside one process,
// redis.Bus across a cluster.
type Bus interface {
	// Publish sends events to every subscriber, in order. It does not wait
	// for slow subscribers. Live delivery is best effort: stored data is
	// the truth, so callers log a Publish error and go on.
	Publish(ctx context.Context, events ...Event) error
	// Subscribe calls fn for every event until cancel is called. fn must
	// not block.
	Subscribe(fn func(Event)) (cancel func())
}

// Presence tracks which devices are online: a device is online for TTL
// after its last reading.
type Presence interface {
	// Touch records that the device was seen at t and reports whether it
	// has just come online.
	Touch(ctx context.Context, orgID, deviceID int64, t time.Time) (cameOnline bool, err error)
	// TouchAll is Touch of each of the org's devices at t, in one round
	// trip where the implementation has one (ingest touches every device
	// of a batch); cameOnline[i] is for deviceIDs[i].
	TouchAll(ctx context.Context, orgID int64, deviceIDs []int64, t time.Time) (cameOnline []bool, err error)
	// Online returns the org's online device ids at now.
	Online(ctx context.Context, orgID int64, now time.Time) ([]int64, error)
}
