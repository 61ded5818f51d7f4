package redis_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/redis"
	"github.com/vibemon/vibemon/sqlite"
)

// lookupFixture is one database with an org, two assets, a device on the
// first asset and an API key.
type lookupFixture struct {
	store  *sqlite.Store
	org    *vibemon.Org
	assets [2]*vibemon.Asset
	dev    *vibemon.Device
	hash   string
	keyID  int64
}

func newLookupFixture(t *testing.T) *lookupFixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &lookupFixture{store: store, org: &vibemon.Org{Name: "Plant"}}
	if err := store.CreateOrg(ctx, f.org); err != nil {
		t.Fatal(err)
	}
	for i := range f.assets {
		f.assets[i] = &vibemon.Asset{OrgID: f.org.ID, Name: "pump", Type: "pump", ISOGroup: 2, Foundation: "rigid"}
		if err := store.CreateAsset(ctx, f.assets[i]); err != nil {
			t.Fatal(err)
		}
	}
	f.dev = &vibemon.Device{OrgID: f.org.ID, AssetID: f.assets[0].ID, Serial: "node-1"}
	if _, err := store.RegisterDevice(ctx, f.dev); err != nil {
		t.Fatal(err)
	}
	key, hash := vibemon.NewAPIKey()
	k := &vibemon.APIKey{OrgID: f.org.ID, Name: "gateway", Role: vibemon.RoleEngineer, Prefix: key[:8], Hash: hash}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	f.hash, f.keyID = hash, k.ID
	return f
}

// replica is one process's cache over the shared store, with its own
// Redis client and bus. TTLs are an hour: only an invalidation can make a
// replica see a change within the test.
func replica(t *testing.T, c *goredis.Client, prefix string, store vibemon.Store) (*vibemon.CachedStore, *redis.Lookups) {
	t.Helper()
	bus := newBus(t, redis.BusConfig{Client: c, Prefix: prefix, SubscribeWait: 500 * time.Millisecond, PublishTimeout: 500 * time.Millisecond})
	l, err := redis.NewLookups(redis.LookupsConfig{Client: c, Bus: bus, Prefix: prefix, TTL: time.Hour, LocalTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return vibemon.NewCachedStore(store, l), l
}

// awaitCode calls f until it returns an error of code want, and fails the
// test after bustest.Timeout.
func awaitCode(t *testing.T, want string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(bustest.Timeout)
	for {
		err := f()
		if vibemon.ErrorCode(err) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after %v, want code %s", err, bustest.Timeout, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLookupsRevokedKeyIsRefusedByTheOtherReplica(t *testing.T) {
	ctx := context.Background()
	f := newLookupFixture(t)
	prefix := testPrefix(t)
	a, _ := replica(t, newClient(t), prefix, f.store)
	b, bl := replica(t, newClient(t), prefix, f.store)

	if k, err := b.APIKeyByHash(ctx, f.hash); err != nil || k.ID != f.keyID || k.Hash != f.hash {
		t.Fatalf("replica B APIKeyByHash = %+v, %v; want key %d", k, err, f.keyID)
	}
	// Replica A has never seen the key: it comes from Redis, whole.
	if k, err := a.APIKeyByHash(ctx, f.hash); err != nil || k.ID != f.keyID || k.Hash != f.hash || k.OrgID != f.org.ID || k.Role != vibemon.RoleEngineer {
		t.Fatalf("replica A APIKeyByHash = %+v, %v; want key %d of org %d, engineer", k, err, f.keyID, f.org.ID)
	}
	// Revoked behind the caches' back: both still accept it (the cache is
	// in use; the TTLs are an hour).
	if err := f.store.RevokeAPIKey(ctx, f.org.ID, f.keyID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.APIKeyByHash(ctx, f.hash); err != nil {
		t.Fatalf("replica B after a revoke behind its back: %v; want the cached key", err)
	}
	// Revoked through replica A: A refuses at once, B as soon as the
	// invalidation arrives.
	if err := a.RevokeAPIKey(ctx, f.org.ID, f.keyID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.APIKeyByHash(ctx, f.hash); vibemon.ErrorCode(err) != vibemon.EUNAUTHORIZED {
		t.Fatalf("replica A right after revoking: %v, want EUNAUTHORIZED", err)
	}
	awaitCode(t, vibemon.EUNAUTHORIZED, func() error { _, err := b.APIKeyByHash(ctx, f.hash); return err })
	if bl.Forgotten() < 1 {
		t.Errorf("replica B received %d invalidations, want at least 1", bl.Forgotten())
	}
}

func TestLookupsDeviceChangesReachTheOtherReplica(t *testing.T) {
	ctx := context.Background()
	f := newLookupFixture(t)
	prefix := testPrefix(t)
	a, _ := replica(t, newClient(t), prefix, f.store)
	b, _ := replica(t, newClient(t), prefix, f.store)

	if d, err := b.Device(ctx, f.org.ID, f.dev.ID); err != nil || d.AssetID != f.assets[0].ID {
		t.Fatalf("replica B Device = %+v, %v; want asset %d", d, err, f.assets[0].ID)
	}
	if _, err := b.Device(ctx, f.org.ID+1, f.dev.ID); vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Fatalf("Device of another org: %v, want ENOTFOUND", err)
	}
	moved := *f.dev
	moved.AssetID = f.assets[1].ID
	if err := a.UpdateDevice(ctx, &moved); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bustest.Timeout)
	for {
		d, err := b.Device(ctx, f.org.ID, f.dev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.AssetID == f.assets[1].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica B still has the device on asset %d after %v, want %d", d.AssetID, bustest.Timeout, f.assets[1].ID)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Deleting the asset detaches the device: B sees it unattached.
	if err := a.DeleteAsset(ctx, f.org.ID, f.assets[1].ID); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(bustest.Timeout)
	for d, _ := b.Device(ctx, f.org.ID, f.dev.ID); d.AssetID != 0; d, _ = b.Device(ctx, f.org.ID, f.dev.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("replica B has the device on deleted asset %d, want unattached", d.AssetID)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := a.DeleteDevice(ctx, f.org.ID, f.dev.ID); err != nil {
		t.Fatal(err)
	}
	awaitCode(t, vibemon.ENOTFOUND, func() error { _, err := b.Device(ctx, f.org.ID, f.dev.ID); return err })
}

// TestLookupsFallBackToTheStoreWithoutRedis stops Redis under two replicas:
// lookups go to the store, and a change made then is still seen by the
// replica that made it.
func TestLookupsFallBackToTheStoreWithoutRedis(t *testing.T) {
	ctx := context.Background()
	f := newLookupFixture(t)
	addr, _, stop := privateRedis(t)
	client := func() *goredis.Client {
		c, err := redis.Connect(ctx, "redis://"+addr+"/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, _ := replica(t, client(), redis.DefaultPrefix, f.store)
	b, _ := replica(t, client(), redis.DefaultPrefix, f.store)
	if _, err := b.APIKeyByHash(ctx, f.hash); err != nil {
		t.Fatal(err)
	}
	stop()

	// Never looked up before: from the store.
	if d, err := a.Device(ctx, f.org.ID, f.dev.ID); err != nil || d.ID != f.dev.ID {
		t.Fatalf("Device without Redis = %+v, %v; want device %d from the store", d, err, f.dev.ID)
	}
	if k, err := a.APIKeyByHash(ctx, f.hash); err != nil || k.ID != f.keyID {
		t.Fatalf("APIKeyByHash without Redis = %+v, %v; want key %d from the store", k, err, f.keyID)
	}
	if _, err := a.APIKeyByHash(ctx, vibemon.HashAPIKey("vmk_unknown")); vibemon.ErrorCode(err) != vibemon.EUNAUTHORIZED {
		t.Fatalf("unknown key without Redis: %v, want EUNAUTHORIZED", err)
	}
	// A revoke without Redis is stored and seen by its own replica; the
	// other keeps its copy for at most its local TTL (an hour here).
	if err := a.RevokeAPIKey(ctx, f.org.ID, f.keyID); err != nil {
		t.Fatalf("RevokeAPIKey without Redis: %v", err)
	}
	if _, err := a.APIKeyByHash(ctx, f.hash); vibemon.ErrorCode(err) != vibemon.EUNAUTHORIZED {
		t.Fatalf("replica A after revoking without Redis: %v, want EUNAUTHORIZED", err)
	}
	moved := *f.dev
	moved.AssetID = f.assets[1].ID
	if err := a.UpdateDevice(ctx, &moved); err != nil {
		t.Fatal(err)
	}
	if d, err := a.Device(ctx, f.org.ID, f.dev.ID); err != nil || d.AssetID != f.assets[1].ID {
		t.Fatalf("replica A after moving the device without Redis: %+v, %v; want asset %d", d, err, f.assets[1].ID)
	}
}
