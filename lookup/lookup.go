package lookup

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/vibemon/vibemon"
)

// Config configures a Cache. Its zero value is ready to use.
type Config struct {
	// TTL is how long a looked-up device or API key is reused. Defaults to
	// 5 s; a change made through a CachedStore is seen at once, one made
	// behind its back (another tool writing to the database) within TTL.
	TTL time.Duration
	// MaxEntries bounds the cache; when full it is emptied (a rebuild
	// costs one lookup per entry). Defaults to 100 000.
	MaxEntries int
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Cache is a vibemon.LookupCache inside one process: the default, and
// the local layer of redis.Lookups.
type Cache struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]entry
	gen     uint64 // bumped by every Forget: a load that began before is not cached
}

type entry struct {
	val     any
	expires time.Time
}

var _ vibemon.LookupCache = (*Cache)(nil)

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{cfg: cfg, entries: map[string]entry{}}
}

// DeviceKey and APIKeyKey name cache entries; redis.Lookups uses the same
// names after its prefix.
func DeviceKey(orgID, id int64) string {
	return "dev:" + strconv.FormatInt(orgID, 10) + ":" + strconv.FormatInt(id, 10)
}

// APIKeyKey names an API key's cache entry by the key's hash.
func APIKeyKey(hash string) string { return "key:" + hash }

// Device implements vibemon.LookupCache.
func (l *Cache) Device(ctx context.Context, orgID, id int64, load func(context.Context) (*vibemon.Device, error)) (*vibemon.Device, error) {
	return Get(l, ctx, DeviceKey(orgID, id), load)
}

// APIKey implements vibemon.LookupCache.
func (l *Cache) APIKey(ctx context.Context, hash string, load func(context.Context) (*vibemon.APIKey, error)) (*vibemon.APIKey, error) {
	return Get(l, ctx, APIKeyKey(hash), load)
}

// ForgetDevice implements vibemon.LookupCache (this process only).
func (l *Cache) ForgetDevice(_ context.Context, orgID, id int64) { l.Forget(DeviceKey(orgID, id)) }

// ForgetAPIKey implements vibemon.LookupCache (this process only).
func (l *Cache) ForgetAPIKey(_ context.Context, hash string) { l.Forget(APIKeyKey(hash)) }

// Forget drops the entry named key, and keeps a load that is under way
// from caching what it read before.
func (l *Cache) Forget(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.gen++
	l.mu.Unlock()
}

// Len returns how many entries are cached (expired ones included).
func (l *Cache) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Lookup returns a copy of the value cached under key, or calls load and
// caches a copy of its result unless a Forget happened meanwhile.
func Get[T any](l *Cache, ctx context.Context, key string, load func(context.Context) (*T, error)) (*T, error) {
	now := l.cfg.Now()
	l.mu.Lock()
	e, ok := l.entries[key]
	gen := l.gen
	l.mu.Unlock()
	if ok && now.Before(e.expires) {
		if v, ok := e.val.(*T); ok {
			c := *v // callers may change what they get
			return &c, nil
		}
	}
	v, err := load(ctx)
	if err != nil || v == nil {
		return v, err
	}
	Put(l, key, v, gen)
	c := *v
	return &c, nil
}

// Generation returns the current Forget count, for Put.
func (l *Cache) Generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// Put caches a copy of v under key, unless a Forget happened since gen was
// read.
func Put[T any](l *Cache, key string, v *T, gen uint64) {
	c := *v
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		return
	}
	if len(l.entries) >= l.cfg.MaxEntries {
		clear(l.entries)
	}
	l.entries[key] = entry{val: &c, expires: l.cfg.Now().Add(l.cfg.TTL)}
}
