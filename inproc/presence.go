package inproc

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/vibemon/vibemon"
)

// PresenceConfig configures a Presence. Its zero value is ready to use.
type PresenceConfig struct {
	// TTL is how long a device stays online after it was last seen.
	// Defaults to 60 s.
	TTL time.Duration
}

// DeviceRef names one device of one org.
type DeviceRef struct {
	OrgID    int64
	DeviceID int64
}

// Presence is a vibemon.Presence inside one process: a device is online for
// TTL after the latest time it was touched. Sweep reports the devices that
// went offline, so that a background loop can announce them.
type Presence struct {
	ttl time.Duration

	mu       sync.Mutex
	lastSeen map[DeviceRef]time.Time
}

var _ vibemon.Presence = (*Presence)(nil)

// NewPresence returns a Presence with no device online.
func NewPresence(cfg PresenceConfig) *Presence {
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	return &Presence{ttl: cfg.TTL, lastSeen: make(map[DeviceRef]time.Time)}
}

// TTL returns how long a device stays online after it was last seen.
func (p *Presence) TTL() time.Duration { return p.ttl }

// Touch records that the device was seen at t and reports whether it has
// just come online: it was unknown, or its previous sighting had expired by
// t. Callers pass the time the server saw the device, not the reading's
// timestamp, because a gateway may sync readings days late.
func (p *Presence) Touch(ctx context.Context, orgID, deviceID int64, t time.Time) (cameOnline bool, err error) {
	k := DeviceRef{OrgID: orgID, DeviceID: deviceID}
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.lastSeen[k]
	cameOnline = !ok || !t.Before(last.Add(p.ttl))
	if !ok || t.After(last) {
		p.lastSeen[k] = t
	}
	return cameOnline, nil
}

// TouchAll is Touch of each device at t.
func (p *Presence) TouchAll(ctx context.Context, orgID int64, deviceIDs []int64, t time.Time) ([]bool, error) {
	came := make([]bool, len(deviceIDs))
	for i, id := range deviceIDs {
		came[i], _ = p.Touch(ctx, orgID, id, t)
	}
	return came, nil
}

// Online returns the org's online device ids at now, in ascending order.
func (p *Presence) Online(ctx context.Context, orgID int64, now time.Time) ([]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := []int64{}
	for k, last := range p.lastSeen {
		if k.OrgID == orgID && p.online(last, now) {
			ids = append(ids, k.DeviceID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Sweep forgets and returns the devices that are offline at now, ordered by
// org and device id. Each device that goes offline is returned by exactly one
// Sweep, unless it comes online again first.
func (p *Presence) Sweep(now time.Time) []DeviceRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gone []DeviceRef
	for k, last := range p.lastSeen {
		if !p.online(last, now) {
			gone = append(gone, k)
			delete(p.lastSeen, k)
		}
	}
	slices.SortFunc(gone, func(a, b DeviceRef) int {
		if a.OrgID != b.OrgID {
			return cmp.Compare(a.OrgID, b.OrgID)
		}
		return cmp.Compare(a.DeviceID, b.DeviceID)
	})
	return gone
}

// online reports whether a device last seen at last is online at now.
func (p *Presence) online(last, now time.Time) bool {
	return now.Before(last.Add(p.ttl))
}
