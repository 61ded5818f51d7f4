package vibemon

import (
	"context"
	"sync"
	"time"
)

// EventForget is the bus event type that tells every replica to drop its
// cached copy of a device (OrgID, DeviceID) or of an API key (Data
// {"api_key_hash":"..."}). WebSocket clients never see it.
const EventForget = "forget"

// LookupCache keeps the hot lookups of ingest, the WebSocket hub and the
// API-key check — a device by id, an API key by hash — for a short time.
// Only found values are kept: a miss always asks load. Implementations:
// lookup.Cache (one process, the default) and redis.Lookups (shared by
// replicas, with invalidation over the bus).
type LookupCache interface {
	// Device returns the cached device or calls load and caches what it
	// returns; load's errors are returned as they are.
	Device(ctx context.Context, orgID, id int64, load func(context.Context) (*Device, error)) (*Device, error)
	// APIKey does the same for an API key by its hash.
	APIKey(ctx context.Context, hash string, load func(context.Context) (*APIKey, error)) (*APIKey, error)
	// ForgetDevice drops the device from this cache and every replica's.
	ForgetDevice(ctx context.Context, orgID, id int64)
	// ForgetAPIKey drops the key from this cache and every replica's.
	ForgetAPIKey(ctx context.Context, hash string)
}

// CachedStore is a Store whose APIKeyByHash goes through a LookupCache and
// whose changes to devices, assets and API keys make every replica forget
// its copies. Device serves the cached device lookup to ingest and the
// WebSocket hub; GetDevice itself is not cached (the API shows last_seen_at
// and battery, which change with every reading).
type CachedStore struct {
	Store
	cache LookupCache

	mu      sync.Mutex
	touched map[int64]time.Time // API key id -> last TouchAPIKey by this process
}

// NewCachedStore wraps s.
func NewCachedStore(s Store, c LookupCache) *CachedStore {
	return &CachedStore{Store: s, cache: c, touched: map[int64]time.Time{}}
}

// Device returns the org's device through the cache; ENOTFOUND as GetDevice.
func (s *CachedStore) Device(ctx context.Context, orgID, id int64) (*Device, error) {
	return s.cache.Device(ctx, orgID, id, func(ctx context.Context) (*Device, error) {
		return s.Store.GetDevice(ctx, orgID, id)
	})
}

// APIKeyByHash returns the key through the cache. A revoked key is
// forgotten by every replica when RevokeAPIKey returns.
func (s *CachedStore) APIKeyByHash(ctx context.Context, hash string) (*APIKey, error) {
	k, err := s.cache.APIKey(ctx, hash, func(ctx context.Context) (*APIKey, error) {
		return s.Store.APIKeyByHash(ctx, hash)
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	at, ok := s.touched[k.ID]
	s.mu.Unlock()
	if ok && (k.LastUsedAt == nil || at.After(*k.LastUsedAt)) {
		c := *k
		c.LastUsedAt = &at // the cached copy predates this process's touch
		k = &c
	}
	return k, nil
}

// TouchAPIKey records the use and remembers it, so that a cached copy's
// old last_used_at does not cause a write per request.
func (s *CachedStore) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	if err := s.Store.TouchAPIKey(ctx, id, at); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.touched) > 100000 {
		clear(s.touched)
	}
	s.touched[id] = at
	s.mu.Unlock()
	return nil
}

// RevokeAPIKey revokes the key and makes every replica forget it.
func (s *CachedStore) RevokeAPIKey(ctx context.Context, orgID, id int64) error {
	if err := s.Store.RevokeAPIKey(ctx, orgID, id); err != nil {
		return err
	}
	keys, err := s.Store.ListAPIKeys(ctx, orgID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			s.cache.ForgetAPIKey(ctx, k.Hash)
		}
	}
	return nil
}

// UpdateDevice saves d and makes every replica forget its copy.
func (s *CachedStore) UpdateDevice(ctx context.Context, d *Device) error {
	err := s.Store.UpdateDevice(ctx, d)
	if err == nil {
		s.cache.ForgetDevice(ctx, d.OrgID, d.ID)
	}
	return err
}

// DeleteDevice deletes the device and makes every replica forget it.
func (s *CachedStore) DeleteDevice(ctx context.Context, orgID, id int64) error {
	err := s.Store.DeleteDevice(ctx, orgID, id)
	if err == nil {
		s.cache.ForgetDevice(ctx, orgID, id)
	}
	return err
}

// DeleteAsset deletes the asset, which detaches its devices, and makes
// every replica forget those devices.
func (s *CachedStore) DeleteAsset(ctx context.Context, orgID, id int64) error {
	devs, err := s.Store.ListDevices(ctx, orgID)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteAsset(ctx, orgID, id); err != nil {
		return err
	}
	for _, d := range devs {
		if d.AssetID == id {
			s.cache.ForgetDevice(ctx, orgID, d.ID)
		}
	}
	return nil
}
