package redis_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/redis"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sweeper is the presence contract both implementations keep: Touch and
// Online from vibemon.Presence, and Sweep (redis.Presence's signature;
// inproc's is adapted).
type sweeper interface {
	vibemon.Presence
	TTL() time.Duration
	Sweep(ctx context.Context, now time.Time) ([]redis.DeviceRef, error)
}

type inprocPresence struct{ *inproc.Presence }

func (p inprocPresence) Sweep(_ context.Context, now time.Time) ([]redis.DeviceRef, error) {
	var refs []redis.DeviceRef
	for _, d := range p.Presence.Sweep(now) {
		refs = append(refs, redis.DeviceRef{OrgID: d.OrgID, DeviceID: d.DeviceID})
	}
	return refs, nil
}

// presenceImpls returns, per implementation, a maker of replicas: every
// call of the maker within one test returns a Presence over the same shared
// state (the same inproc.Presence; a new redis.Presence with its own client
// on the test's prefix).
func presenceImpls() map[string]func(t *testing.T, ttl time.Duration) func() sweeper {
	return map[string]func(t *testing.T, ttl time.Duration) func() sweeper{
		"inproc": func(t *testing.T, ttl time.Duration) func() sweeper {
			p := inprocPresence{inproc.NewPresence(inproc.PresenceConfig{TTL: ttl})}
			return func() sweeper { return p }
		},
		"redis": func(t *testing.T, ttl time.Duration) func() sweeper {
			prefix := testPrefix(t)
			return func() sweeper {
				p, err := redis.NewPresence(redis.PresenceConfig{Client: newClient(t), Prefix: prefix, TTL: ttl})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
		},
	}
}

// TestPresence runs the presence specification against every
// implementation.
func TestPresence(t *testing.T) {
	for name, impl := range presenceImpls() {
		t.Run(name, func(t *testing.T) {
			t.Run("Lifecycle", func(t *testing.T) { testPresenceLifecycle(t, impl(t, 0)()) })
			t.Run("SweepOncePerDeviceAcrossReplicas", func(t *testing.T) { testSweepOnce(t, impl(t, time.Minute)) })
			t.Run("ConcurrentTouchComesOnlineOnce", func(t *testing.T) { testTouchOnce(t, impl(t, time.Minute)) })
			t.Run("SubSecondTTL", func(t *testing.T) { testSubSecond(t, impl(t, 250*time.Millisecond)()) })
		})
	}
}

func testPresenceLifecycle(t *testing.T, p sweeper) {
	ctx := context.Background()
	if got, want := p.TTL(), 60*time.Second; got != want {
		t.Fatalf("default TTL = %v, want %v", got, want)
	}
	steps := []struct {
		name       string
		org, dev   int64
		at         time.Duration
		cameOnline bool
	}{
		{"first sighting", 1, 10, 0, true},
		{"seen again within TTL", 1, 10, 30 * time.Second, false},
		{"other device", 1, 11, 10 * time.Second, true},
		{"same id in another org is another device", 2, 10, 10 * time.Second, true},
		{"late sighting does not move last seen back", 1, 10, 5 * time.Second, false},
		{"after TTL since last sighting", 1, 11, 71 * time.Second, true},
	}
	for _, s := range steps {
		got, err := p.Touch(ctx, s.org, s.dev, t0.Add(s.at))
		if err != nil {
			t.Fatalf("%s: Touch: %v", s.name, err)
		}
		if got != s.cameOnline {
			t.Errorf("%s: cameOnline = %v, want %v", s.name, got, s.cameOnline)
		}
	}

	online := []struct {
		org  int64
		at   time.Duration
		want []int64
	}{
		{1, 40 * time.Second, []int64{10, 11}},
		{1, 89 * time.Second, []int64{10, 11}}, // 10 last seen at 30 s
		{1, 90*time.Second - time.Microsecond, []int64{10, 11}},
		{1, 90 * time.Second, []int64{11}}, // exactly TTL after: offline
		{1, 131 * time.Second, []int64{}},
		{2, 40 * time.Second, []int64{10}},
		{3, 40 * time.Second, []int64{}},
	}
	for _, o := range online {
		got, err := p.Online(ctx, o.org, t0.Add(o.at))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, o.want) {
			t.Errorf("Online(org %d, +%v) = %v, want %v", o.org, o.at, got, o.want)
		}
	}

	sweeps := []struct {
		at   time.Duration
		want []redis.DeviceRef
	}{
		{60 * time.Second, nil},
		{70 * time.Second, []redis.DeviceRef{{OrgID: 2, DeviceID: 10}}},
		{95 * time.Second, []redis.DeviceRef{{OrgID: 1, DeviceID: 10}}},
		{100 * time.Second, nil}, // reported once only
		{200 * time.Second, []redis.DeviceRef{{OrgID: 1, DeviceID: 11}}},
	}
	for _, s := range sweeps {
		got, err := p.Sweep(ctx, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("Sweep(+%v) = %v, want %v", s.at, got, s.want)
		}
	}
	if got, _ := p.Touch(ctx, 1, 10, t0.Add(300*time.Second)); !got {
		t.Error("Touch after the device was swept: cameOnline = false, want true")
	}
	if got, _ := p.Online(ctx, 1, t0.Add(300*time.Second)); !slices.Equal(got, []int64{10}) {
		t.Errorf("Online after coming back = %v, want [10]", got)
	}
}

func testSweepOnce(t *testing.T, replica func() sweeper) {
	ctx := context.Background()
	a, b := replica(), replica()
	const orgs, devices = 3, 100
	for org := int64(1); org <= orgs; org++ {
		for dev := int64(1); dev <= devices; dev++ {
			if _, err := a.Touch(ctx, org, dev, t0.Add(time.Duration(dev)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both replicas sweep at once, repeatedly, as the background loops do.
	var mu sync.Mutex
	seen := map[redis.DeviceRef]int{}
	var wg sync.WaitGroup
	for _, p := range []sweeper{a, b, a, b} {
		wg.Go(func() {
			for step := range 12 {
				got, err := p.Sweep(ctx, t0.Add(time.Minute+time.Duration(step*10)*time.Millisecond))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, want := len(seen), orgs*devices; got != want {
		t.Errorf("swept %d distinct devices, want %d", got, want)
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("device %+v reported offline %d times, want once", d, n)
		}
	}
}

func testTouchOnce(t *testing.T, replica func() sweeper) {
	ctx := context.Background()
	replicas := []sweeper{replica(), replica()}
	var mu sync.Mutex
	came := 0
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for k := range 20 {
				ok, err := replicas[i%2].Touch(ctx, 5, 77, t0.Add(time.Duration(k)*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					came++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if came != 1 {
		t.Errorf("%d concurrent Touch calls reported coming online, want exactly 1", came)
	}
}

func testSubSecond(t *testing.T, p sweeper) {
	ctx := context.Background()
	steps := []struct {
		at         time.Duration
		cameOnline bool
	}{
		{0, true},
		{249 * time.Millisecond, false},
		{499 * time.Millisecond, true}, // 250 ms after the last sighting
	}
	for _, s := range steps {
		got, err := p.Touch(ctx, 1, 1, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
		if got != s.cameOnline {
			t.Errorf("Touch(+%v) = %v, want %v", s.at, got, s.cameOnline)
		}
	}
	got, err := p.Sweep(ctx, t0.Add(749*time.Millisecond-time.Microsecond))
	if err != nil || len(got) != 0 {
		t.Errorf("Sweep(+748.999ms) = %v, %v; want nothing", got, err)
	}
	got, err = p.Sweep(ctx, t0.Add(749*time.Millisecond))
	if want := []redis.DeviceRef{{OrgID: 1, DeviceID: 1}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Sweep(+749ms) = %v, %v; want %v (offline exactly TTL after)", got, err, want)
	}
}
