package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
)

// PresenceConfig configures a Presence. Client is required; the zero value
// of every other field means its documented default.
type PresenceConfig struct {
	// Client is the Redis client.
	Client *goredis.Client
	// Prefix starts every key. Defaults to DefaultPrefix.
	Prefix string
	// TTL is how long a device stays online after it was last seen.
	// Defaults to 60 s. Every replica must use the same TTL.
	TTL time.Duration
}

// DeviceRef names one device of one org.
type DeviceRef struct {
	OrgID    int64
	DeviceID int64
}

// Presence is a vibemon.Presence shared by every replica on one Redis. Each
// org has a sorted set "<prefix>presence:<org>" of device ids scored by the
// time they were last seen, in microseconds since the Unix epoch, and the set
// "<prefix>presence:orgs" names the orgs that have one. Touch and Sweep are
// Lua scripts, so each is atomic across replicas.
type Presence struct {
	client *goredis.Client
	prefix string
	ttl    time.Duration
}

var _ vibemon.Presence = (*Presence)(nil)

// NewPresence returns a Presence on cfg.Client.
func NewPresence(cfg PresenceConfig) (*Presence, error) {
	if cfg.Client == nil {
		return nil, errors.New("new redis presence: PresenceConfig.Client is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	return &Presence{client: cfg.Client, prefix: prefixOr(cfg.Prefix), ttl: cfg.TTL}, nil
}

// TTL returns how long a device stays online after it was last seen.
func (p *Presence) TTL() time.Duration { return p.ttl }

func (p *Presence) orgKey(orgID int64) string { return p.prefix + "presence:" + itoa(orgID) }
func (p *Presence) orgsKey() string           { return p.prefix + "presence:orgs" }

// touchScript records a sighting at ARGV[2] (µs) of device ARGV[1] and
// returns 1 if the device was unknown or its last sighting had expired.
// Scores are written from the argument string: Lua would print a 16-digit
// number with 14 significant digits.
var touchScript = goredis.NewScript(`
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local t = tonumber(ARGV[2])
local came = 0
if not old then
  came = 1
  redis.call('SADD', KEYS[2], ARGV[4])
else
  old = tonumber(old)
  if t >= old + tonumber(ARGV[3]) then came = 1 end
end
if (not old) or t > old then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
return came
`)

// Touch records that the device was seen at t and reports whether it has
// just come online: it was unknown, or its previous sighting had expired by
// t. Times are kept to the microsecond. It returns an error when Redis does
// not answer.
func (p *Presence) Touch(ctx context.Context, orgID, deviceID int64, t time.Time) (cameOnline bool, err error) {
	n, err := touchScript.Run(ctx, p.client,
		[]string{p.orgKey(orgID), p.orgsKey()},
		itoa(deviceID), itoa(micros(t)), itoa(p.ttl.Microseconds()), itoa(orgID)).Int()
	if err != nil {
		return false, fmt.Errorf("touch device %d presence: %w", deviceID, err)
	}
	return n == 1, nil
}

// touchAllScript is touchScript for the devices ARGV[4..] at one time:
// one round trip for a batch's devices instead of one per device (a POST
// of 100 readings of 100 devices spent most of its time in them). It
// returns one 0 or 1 per device.
var touchAllScript = goredis.NewScript(`
local t = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local out = {}
local added = false
for i = 4, #ARGV do
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i])
  local came = 0
  if not old then
    came = 1
    added = true
  else
    old = tonumber(old)
    if t >= old + ttl then came = 1 end
  end
  if (not old) or t > old then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  end
  out[#out + 1] = came
end
if added then redis.call('SADD', KEYS[2], ARGV[3]) end
return out
`)

// TouchAll is Touch of each of the org's devices at t, in one script call
// (atomic, one round trip). It returns an error when Redis does not answer.
func (p *Presence) TouchAll(ctx context.Context, orgID int64, deviceIDs []int64, t time.Time) ([]bool, error) {
	if len(deviceIDs) == 0 {
		return []bool{}, nil
	}
	args := make([]any, 0, 3+len(deviceIDs))
	args = append(args, itoa(micros(t)), itoa(p.ttl.Microseconds()), itoa(orgID))
	for _, id := range deviceIDs {
		args = append(args, itoa(id))
	}
	res, err := touchAllScript.Run(ctx, p.client, []string{p.orgKey(orgID), p.orgsKey()}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("touch %d devices' presence: %w", len(deviceIDs), err)
	}
	if len(res) != len(deviceIDs) {
		return nil, fmt.Errorf("touch %d devices' presence: Redis answered %d results", len(deviceIDs), len(res))
	}
	came := make([]bool, len(res))
	for i, n := range res {
		came[i] = n == 1
	}
	return came, nil
}

// Online returns the org's online device ids at now, in ascending order. It
// returns an error when Redis does not answer.
func (p *Presence) Online(ctx context.Context, orgID int64, now time.Time) ([]int64, error) {
	members, err := p.client.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key: p.orgKey(orgID), ByScore: true,
		Start: "(" + itoa(micros(now)-p.ttl.Microseconds()), Stop: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list online devices: %w", err)
	}
	ids := make([]int64, 0, len(members))
	for _, m := range members {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list online devices: member %q of %s is not a device id", m, p.orgKey(orgID))
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// sweepScript removes and returns the members of KEYS[1] last seen at or
// before ARGV[1] (µs), and drops org ARGV[2] from KEYS[2] once its set is
// empty. Being one script, it hands each expired device to one caller only.
var sweepScript = goredis.NewScript(`
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
return gone
`)

// Sweep forgets and returns the devices that are offline at now, ordered by
// org and device id. Each device that goes offline is returned by exactly one
// Sweep in the whole cluster, unless it comes online again first. On an
// error it returns the devices swept so far with the error.
func (p *Presence) Sweep(ctx context.Context, now time.Time) ([]DeviceRef, error) {
	orgs, err := p.client.SMembers(ctx, p.orgsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("sweep presence: list orgs: %w", err)
	}
	cutoff := itoa(micros(now) - p.ttl.Microseconds())
	var gone []DeviceRef
	for _, o := range orgs {
		orgID, err := strconv.ParseInt(o, 10, 64)
		if err != nil {
			continue // not ours
		}
		ids, err := sweepScript.Run(ctx, p.client, []string{p.orgKey(orgID), p.orgsKey()}, cutoff, o).StringSlice()
		if err != nil {
			return sortRefs(gone), fmt.Errorf("sweep presence of org %d: %w", orgID, err)
		}
		for _, s := range ids {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				gone = append(gone, DeviceRef{OrgID: orgID, DeviceID: id})
			}
		}
	}
	return sortRefs(gone), nil
}

func sortRefs(refs []DeviceRef) []DeviceRef {
	slices.SortFunc(refs, func(a, b DeviceRef) int {
		if a.OrgID != b.OrgID {
			return cmp.Compare(a.OrgID, b.OrgID)
		}
		return cmp.Compare(a.DeviceID, b.DeviceID)
	})
	return refs
}
