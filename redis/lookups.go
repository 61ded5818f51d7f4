package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/lookup"
)

// LookupsConfig configures Lookups. Client and Bus are required; the zero
// value of every other field means its documented default.
type LookupsConfig struct {
	Client *goredis.Client
	// Bus carries the invalidations (events of type vibemon.EventForget)
	// to every replica. Use the replicas' shared live bus.
	Bus vibemon.Bus
	// Prefix starts every key ("<prefix>lookup:..."). Defaults to
	// DefaultPrefix.
	Prefix string
	// TTL is how long an entry lives in Redis. Defaults to 30 s.
	TTL time.Duration
	// LocalTTL is how long a replica reuses its own copy. Defaults to 5 s.
	LocalTTL time.Duration
	// RetryAfter is how long lookups skip Redis (and go to the store)
	// after Redis failed. Defaults to one second.
	RetryAfter time.Duration
	// Logger receives warnings when Redis or the bus fails. Defaults to
	// discarding.
	Logger *slog.Logger
	// Now is the clock of the local layer. Defaults to time.Now.
	Now func() time.Time
}

// Lookups is a vibemon.LookupCache shared by replicas: each replica keeps
// its own copy for LocalTTL (lookup.Cache), then asks Redis, where a
// looked-up device or API key is kept as JSON for TTL, and only then the
// store. Forget deletes the Redis entry and publishes an EventForget on the
// bus, on which every replica drops its own copy, so a revoked API key is
// refused by every replica as soon as the event arrives, not after a TTL.
// When Redis fails, lookups go to the store.
type Lookups struct {
	cfg    LookupsConfig
	local  *lookup.Cache
	log    *slog.Logger
	prefix string
	cancel func()

	downUntil atomic.Int64 // unix ns before which Redis is skipped
	hits      atomic.Int64
	misses    atomic.Int64
	forgotten atomic.Int64
}

var _ vibemon.LookupCache = (*Lookups)(nil)

// forgetData is the data of an EventForget.
type forgetData struct {
	Key string `json:"key"`
}

// NewLookups returns a cache and subscribes it to cfg.Bus; Close ends the
// subscription.
func NewLookups(cfg LookupsConfig) (*Lookups, error) {
	if cfg.Client == nil || cfg.Bus == nil {
		return nil, errors.New("new redis lookups: LookupsConfig.Client and Bus are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lookups{
		cfg: cfg, log: cfg.Logger, prefix: prefixOr(cfg.Prefix) + "lookup:",
		local: lookup.New(lookup.Config{TTL: cfg.LocalTTL, Now: cfg.Now}),
	}
	l.cancel = cfg.Bus.Subscribe(func(ev vibemon.Event) {
		if ev.Type != vibemon.EventForget {
			return
		}
		var d forgetData
		if json.Unmarshal(ev.Data, &d) == nil && d.Key != "" {
			l.local.Forget(d.Key)
			l.forgotten.Add(1)
		}
	})
	return l, nil
}

// Close ends the bus subscription.
func (l *Lookups) Close() error {
	l.cancel()
	return nil
}

// Forgotten returns how many invalidations this replica received.
func (l *Lookups) Forgotten() int64 { return l.forgotten.Load() }

// Device implements vibemon.LookupCache.
func (l *Lookups) Device(ctx context.Context, orgID, id int64, load func(context.Context) (*vibemon.Device, error)) (*vibemon.Device, error) {
	key := lookup.DeviceKey(orgID, id)
	return lookup.Get(l.local, ctx, key, func(ctx context.Context) (*vibemon.Device, error) {
		return shared(l, ctx, key, load)
	})
}

// APIKey implements vibemon.LookupCache.
func (l *Lookups) APIKey(ctx context.Context, hash string, load func(context.Context) (*vibemon.APIKey, error)) (*vibemon.APIKey, error) {
	key := lookup.APIKeyKey(hash)
	return lookup.Get(l.local, ctx, key, func(ctx context.Context) (*vibemon.APIKey, error) {
		return shared(l, ctx, key, load)
	})
}

// sharedKey carries the API key's hash into Redis too: vibemon.APIKey
// leaves it out of its JSON.
type sharedKey struct {
	*vibemon.APIKey
	Hash string `json:"hash"`
}

// shared reads key from Redis, or loads it and writes it to Redis.
func shared[T any](l *Lookups, ctx context.Context, key string, load func(context.Context) (*T, error)) (*T, error) {
	rkey := l.prefix + key
	gen := l.local.Generation()
	useRedis := time.Now().UnixNano() >= l.downUntil.Load()
	if useRedis {
		b, err := l.cfg.Client.Get(ctx, rkey).Bytes()
		switch {
		case err == nil:
			if v, ok := decodeShared[T](b); ok {
				l.hits.Add(1)
				return v, nil
			}
		case errors.Is(err, goredis.Nil):
		default:
			l.down(err)
			useRedis = false
		}
	}
	l.misses.Add(1)
	v, err := load(ctx)
	if err != nil || v == nil || !useRedis {
		return v, err
	}
	if l.local.Generation() != gen {
		return v, nil // forgotten meanwhile: what was read may be old
	}
	if b, err := encodeShared(v); err == nil {
		if err := l.cfg.Client.Set(ctx, rkey, b, l.cfg.TTL).Err(); err != nil {
			l.down(err)
		}
	}
	return v, nil
}

func encodeShared[T any](v *T) ([]byte, error) {
	if k, ok := any(v).(*vibemon.APIKey); ok {
		return json.Marshal(sharedKey{k, k.Hash})
	}
	return json.Marshal(v)
}

func decodeShared[T any](b []byte) (*T, bool) {
	v := new(T)
	if k, ok := any(v).(*vibemon.APIKey); ok {
		s := sharedKey{APIKey: k}
		if json.Unmarshal(b, &s) != nil {
			return nil, false
		}
		k.Hash = s.Hash
		return v, true
	}
	if json.Unmarshal(b, v) != nil {
		return nil, false
	}
	return v, true
}

func (l *Lookups) down(err error) {
	if l.downUntil.Swap(time.Now().Add(l.cfg.RetryAfter).UnixNano()) < time.Now().UnixNano() {
		l.log.Warn("redis lookups: Redis failed; looking up in the store", "err", err, "retry_in", l.cfg.RetryAfter)
	}
}

// ForgetDevice implements vibemon.LookupCache.
func (l *Lookups) ForgetDevice(ctx context.Context, orgID, id int64) {
	l.forget(ctx, lookup.DeviceKey(orgID, id), vibemon.Event{OrgID: orgID, DeviceID: id})
}

// ForgetAPIKey implements vibemon.LookupCache.
func (l *Lookups) ForgetAPIKey(ctx context.Context, hash string) {
	l.forget(ctx, lookup.APIKeyKey(hash), vibemon.Event{})
}

// forget drops key here, in Redis and, through the bus, on every replica.
// Failures are logged: the local TTL then bounds how long another replica
// keeps its copy.
func (l *Lookups) forget(ctx context.Context, key string, ev vibemon.Event) {
	l.local.Forget(key)
	if err := l.cfg.Client.Del(ctx, l.prefix+key).Err(); err != nil {
		l.log.Warn("redis lookups: cannot delete a changed entry; other replicas may use it until it expires", "key", key, "ttl", l.cfg.TTL, "err", err)
	}
	ev.Type = vibemon.EventForget
	ev.Data, _ = json.Marshal(forgetData{Key: key})
	if err := l.cfg.Bus.Publish(ctx, ev); err != nil {
		l.log.Warn("redis lookups: cannot tell other replicas to forget a changed entry; they may use it for up to the local TTL", "key", key, "err", err)
	}
}
