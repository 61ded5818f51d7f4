package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/lookup"
)

// Config configures a Service. Bus, Presence and Alerts may be nil; Logger
// defaults to slog.Default and Now to time.Now.
type Config struct {
	Store    vibemon.Store
	Bus      vibemon.Bus
	Presence vibemon.Presence
	Alerts   *alerting.Engine
	Logger   *slog.Logger
	Now      func() time.Time
	// DeviceCacheTTL is how long a device looked up for a batch is reused
	// for later batches: a gateway sends the same devices every few
	// seconds, and the lookup was a tenth of the ingest cost. A device
	// deleted or moved to another asset is seen within this time. Defaults
	// to 5 s; negative disables the cache. Used for the default Devices.
	DeviceCacheTTL time.Duration
	// Devices caches device lookups (positive ones only). Defaults to an
	// lookup.Cache of DeviceCacheTTL; a cluster passes redis.Lookups,
	// whose entries every replica forgets when a device is changed through
	// a vibemon.CachedStore.
	Devices vibemon.LookupCache
	// OnlineWindow is how recent a reading must be to mark its device
	// online and to be streamed live; readings synced late from a gateway
	// queue are stored but neither. Defaults to 2 minutes.
	OnlineWindow time.Duration
	// LiveWanted, when set, reports whether live reading events of the org
	// can reach anyone; when it says no, a batch publishes no reading
	// events (alerts and presence still go out), which saves encoding
	// every reading as JSON (two fifths of the server's CPU per reading
	// under bulk ingest, docs/benchmarks.md). A process whose bus is
	// in-process passes its WebSocket hub's Watching; with Redis, the
	// marks every WebSocket replica keeps (redis.Watch.Wanted). Nil: every
	// batch publishes its live readings.
	LiveWanted func(orgID int64) bool
}

// Service runs the pipeline. It is safe for concurrent use.
type Service struct {
	cfg Config

	// retention caches each org's retention_days for DeviceCacheTTL (see
	// retentionDays).
	retMu     sync.Mutex
	retention map[int64]cachedRetention
}

type cachedRetention struct {
	days   int
	pruned time.Time // Org.PrunedBefore; zero: never pruned
	at     time.Time // when it was read (wall clock)
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnlineWindow == 0 {
		cfg.OnlineWindow = 2 * time.Minute
	}
	if cfg.DeviceCacheTTL == 0 {
		cfg.DeviceCacheTTL = 5 * time.Second
	}
	if cfg.Devices == nil && cfg.DeviceCacheTTL > 0 {
		cfg.Devices = lookup.New(lookup.Config{TTL: cfg.DeviceCacheTTL, Now: cfg.Now})
	}
	return &Service{cfg: cfg, retention: map[int64]cachedRetention{}}
}

// retentionDays returns the org's retention_days, read at most once per
// DeviceCacheTTL unless fresh. A cached value may be up to that old: a
// retention shortened meanwhile (here or on another replica) may already
// have been applied by PruneReadings, and a reading it removed would then
// pass the stale horizon and be stored, and rolled up, again. Only a
// reading older than the shortest retention (1 day) can be affected, so
// Ingest asks for a fresh value when its batch holds one.
func (s *Service) retentionDays(ctx context.Context, orgID int64, fresh bool) (cachedRetention, error) {
	ttl := s.cfg.DeviceCacheTTL
	if ttl > 0 && !fresh {
		s.retMu.Lock()
		c, ok := s.retention[orgID]
		s.retMu.Unlock()
		if ok && time.Since(c.at) < ttl {
			return c, nil
		}
	}
	o, err := s.cfg.Store.GetOrg(ctx, orgID)
	var c cachedRetention
	switch vibemon.ErrorCode(err) {
	case "":
		c.days = o.RetentionDays
		if o.PrunedBefore != nil {
			c.pruned = *o.PrunedBefore
		}
	case vibemon.ENOTFOUND:
	default:
		return c, fmt.Errorf("look up org %d: %w", orgID, err)
	}
	c.at = time.Now()
	if ttl > 0 {
		s.retMu.Lock()
		s.retention[orgID] = c
		s.retMu.Unlock()
	}
	return c, nil
}

// Ingest stores the valid readings of rs for orgID and reports, per reading,
// whether it was new, a duplicate, or rejected (with its index in rs). It
// returns an error only when nothing could be stored; then no reading of rs
// was stored. rs is handed to the store without a copy when every reading
// is valid: the caller must not change it afterwards (a call whose context
// ends may still be committing it).
func (s *Service) Ingest(ctx context.Context, orgID int64, rs []vibemon.Reading) (vibemon.IngestResult, error) {
	res := vibemon.IngestResult{Rejected: []vibemon.Rejection{}}
	now := s.cfg.Now()
	devices := map[int64]*vibemon.Device{}
	// valid is rs itself until a reading is rejected (no copy of a clean
	// batch); then a copy of the readings kept so far.
	valid := rs[:0:0]
	clean := true
	// The cached retention is safe for readings younger than the shortest
	// retention; an older one reads the org's setting afresh.
	reread := false
	for i := range rs {
		if rs[i].TS.Before(vibemon.RetentionHorizon(1, now)) {
			reread = true
			break
		}
	}
	ret, err := s.retentionDays(ctx, orgID, reread)
	if err != nil {
		return vibemon.IngestResult{}, err
	}
	for i := range rs {
		r := &rs[i]
		err := r.Validate(now)
		if err == nil {
			err = r.CheckRetention(ret.days, ret.pruned, now)
		}
		if err == nil {
			dev, seen := devices[r.DeviceID]
			if !seen {
				if dev, err = s.device(ctx, orgID, r.DeviceID, now); err != nil {
					return vibemon.IngestResult{}, err
				}
				devices[r.DeviceID] = dev
			}
			if dev == nil {
				err = vibemon.Errorf(vibemon.ENOTFOUND, "device %d is not registered in this organization; register it with POST /api/v1/devices first.", r.DeviceID)
			}
		}
		if err != nil {
			res.Rejected = append(res.Rejected, reject(i, err))
			if clean {
				clean = false
				valid = append(make([]vibemon.Reading, 0, len(rs)-1), rs[:i]...)
			}
			continue
		}
		if !clean {
			valid = append(valid, *r)
		}
	}
	if clean {
		valid = rs
	}
	if len(valid) == 0 {
		return res, nil
	}
	isNew, err := s.cfg.Store.InsertReadings(ctx, orgID, valid)
	if err != nil {
		return vibemon.IngestResult{}, fmt.Errorf("insert readings: %w", err)
	}
	fresh := valid
	if slices.Contains(isNew, false) {
		fresh = make([]vibemon.Reading, 0, len(valid))
		for i, n := range isNew {
			if n {
				fresh = append(fresh, valid[i])
			}
		}
	}
	res.Accepted = len(fresh)
	res.Duplicates = len(valid) - len(fresh)

	// From here on the readings are durable: failures are logged, not returned.
	s.afterCommit(context.WithoutCancel(ctx), orgID, devices, fresh, now)
	return res, nil
}

// device returns the org's device, nil when the org has no such device.
func (s *Service) device(ctx context.Context, orgID, id int64, _ time.Time) (*vibemon.Device, error) {
	load := func(ctx context.Context) (*vibemon.Device, error) { return s.cfg.Store.GetDevice(ctx, orgID, id) }
	var d *vibemon.Device
	var err error
	if s.cfg.Devices != nil {
		d, err = s.cfg.Devices.Device(ctx, orgID, id, load)
	} else {
		d, err = load(ctx)
	}
	switch vibemon.ErrorCode(err) {
	case "":
	case vibemon.ENOTFOUND:
		d = nil
	default:
		return nil, fmt.Errorf("look up device %d: %w", id, err)
	}
	return d, nil
}

func (s *Service) afterCommit(ctx context.Context, orgID int64, devices map[int64]*vibemon.Device, fresh []vibemon.Reading, now time.Time) {
	if len(fresh) == 0 {
		return
	}
	var events []vibemon.Event
	if s.cfg.Alerts != nil {
		changed, err := s.cfg.Alerts.Evaluate(ctx, orgID, devices, fresh)
		if err != nil {
			s.cfg.Logger.Error("evaluate alert rules", "org", orgID, "err", err)
		}
		for _, a := range changed {
			data, _ := a.LiveData() // with the opened/resolved event, if any
			events = append(events, vibemon.Event{Type: vibemon.EventAlert, OrgID: orgID, DeviceID: a.DeviceID, AssetID: a.AssetID, Data: data})
		}
	}
	if s.cfg.Presence != nil {
		latest := map[int64]time.Time{}
		for _, r := range fresh {
			if r.TS.After(latest[r.DeviceID]) {
				latest[r.DeviceID] = r.TS
			}
		}
		ids := make([]int64, 0, len(latest))
		for id, ts := range latest {
			if now.Sub(ts) <= s.cfg.OnlineWindow {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids) // events in device order
		came, err := s.cfg.Presence.TouchAll(ctx, orgID, ids, now)
		if err != nil {
			s.cfg.Logger.Warn("update presence", "devices", len(ids), "err", err)
		}
		for i, c := range came {
			if c {
				events = append(events, vibemon.Event{Type: vibemon.EventPresence, OrgID: orgID, DeviceID: ids[i],
					AssetID: devices[ids[i]].AssetID, Data: json.RawMessage(`{"online":true}`)})
			}
		}
	}
	if s.cfg.Bus == nil {
		return
	}
	if s.cfg.LiveWanted != nil && !s.cfg.LiveWanted(orgID) {
		fresh = nil // no reading events
	}
	for _, r := range liveReadings(fresh, now, s.cfg.OnlineWindow) {
		events = append(events, vibemon.Event{Type: vibemon.EventReading, OrgID: orgID, DeviceID: r.DeviceID,
			AssetID: devices[r.DeviceID].AssetID, Data: AppendReadingJSON(nil, &r)})
	}
	if err := s.cfg.Bus.Publish(ctx, events...); err != nil {
		s.cfg.Logger.Warn("publish live events", "org", orgID, "events", len(events), "err", err)
	}
}

// maxLivePerDevice caps the reading events one batch sends per device.
const maxLivePerDevice = 32

// liveReadings returns the readings worth streaming: those of the last
// window (a gateway catching up on an hour of backlog is history, which
// clients query, not news) and at most maxLivePerDevice per device, the
// newest, so one large batch cannot flood every live client's queue.
func liveReadings(fresh []vibemon.Reading, now time.Time, window time.Duration) []vibemon.Reading {
	perDevice := map[int64][]vibemon.Reading{}
	var order []int64
	for _, r := range fresh {
		if now.Sub(r.TS) > window {
			continue
		}
		if _, ok := perDevice[r.DeviceID]; !ok {
			order = append(order, r.DeviceID)
		}
		perDevice[r.DeviceID] = append(perDevice[r.DeviceID], r)
	}
	var out []vibemon.Reading
	for _, id := range order {
		rs := perDevice[id]
		sort.Slice(rs, func(i, j int) bool { return rs[i].TS.Before(rs[j].TS) })
		if len(rs) > maxLivePerDevice {
			rs = rs[len(rs)-maxLivePerDevice:]
		}
		out = append(out, rs...)
	}
	return out
}

func reject(i int, err error) vibemon.Rejection {
	return vibemon.Rejection{Index: i, Code: vibemon.ErrorCode(err), Message: vibemon.ErrorMessage(err)}
}

// AppendReadingJSON appends r as {"ts","seq","values":{metric:value}} to dst,
// leaving out metrics that were not measured. It is the shape of a live
// reading event's data and of a raw telemetry item.
func AppendReadingJSON(dst []byte, r *vibemon.Reading) []byte {
	dst = append(dst, `{"ts":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"values":{`...)
	first := true
	for i, v := range r.Values {
		if math.IsNaN(v) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, vibemon.Metric(i).String()...)
		dst = append(dst, `":`...)
		dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	}
	return append(dst, "}}"...)
}
