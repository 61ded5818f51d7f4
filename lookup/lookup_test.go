package lookup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/lookup"
)

// TestLookupsCacheForTTLAndForget: a found device is reused until its TTL
// (injected clock) or a Forget; misses and errors are not cached; callers
// get copies.
func TestLookupsCacheForTTLAndForget(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	l := lookup.New(lookup.Config{TTL: 5 * time.Second, Now: func() time.Time { return now }})
	loads := 0
	asset := int64(10)
	load := func(context.Context) (*vibemon.Device, error) {
		loads++
		return &vibemon.Device{ID: 7, OrgID: 1, AssetID: asset}, nil
	}
	get := func() *vibemon.Device {
		t.Helper()
		d, err := l.Device(ctx, 1, 7, load)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := get()
	d.AssetID = 99 // a caller changing its copy changes nobody else's
	if d := get(); d.AssetID != 10 || loads != 1 {
		t.Fatalf("second lookup: asset %d after %d loads, want the cached asset 10 after 1", d.AssetID, loads)
	}
	asset = 20
	now = now.Add(5 * time.Second)
	if d := get(); d.AssetID != 20 || loads != 2 {
		t.Fatalf("after the TTL: asset %d after %d loads, want 20 after 2", d.AssetID, loads)
	}
	asset = 30
	l.ForgetDevice(ctx, 1, 7)
	if d := get(); d.AssetID != 30 || loads != 3 {
		t.Fatalf("after Forget: asset %d after %d loads, want 30 after 3", d.AssetID, loads)
	}
	// Another org's device with the same id is another entry.
	if _, err := l.Device(ctx, 2, 7, func(context.Context) (*vibemon.Device, error) {
		return nil, vibemon.Errorf(vibemon.ENOTFOUND, "no")
	}); vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Fatalf("other org: %v, want ENOTFOUND", err)
	}
	// Errors are returned and not cached.
	fails := 0
	boom := errors.New("store down")
	for range 2 {
		if _, err := l.APIKey(ctx, "h", func(context.Context) (*vibemon.APIKey, error) { fails++; return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("APIKey error = %v, want %v", err, boom)
		}
	}
	if fails != 2 {
		t.Errorf("a failing load was called %d times for two lookups, want 2 (errors are not cached)", fails)
	}
}

// TestLookupsForgetDuringLoad: a load that read before a Forget does not
// put its (maybe old) value in the cache.
func TestLookupsForgetDuringLoad(t *testing.T) {
	ctx := context.Background()
	l := lookup.New(lookup.Config{TTL: time.Hour})
	_, err := l.APIKey(ctx, "h", func(context.Context) (*vibemon.APIKey, error) {
		l.ForgetAPIKey(ctx, "h") // a revoke lands while the store is read
		return &vibemon.APIKey{ID: 1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries cached, want 0: the value read before the Forget may be stale", n)
	}
}
