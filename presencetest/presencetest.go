package presencetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Ref names a device that went offline.
type Ref struct{ OrgID, DeviceID int64 }

// Presence is the contract every presence implementation keeps: Touch and
// Online from vibemon.Presence, its TTL, and Sweep, which reports each
// device that went offline once, across replicas. Tests adapt their
// implementation's own Sweep to this signature.
type Presence interface {
	vibemon.Presence
	TTL() time.Duration
	Sweep(ctx context.Context, now time.Time) ([]Ref, error)
}

// Run checks the implementation behind replicas against the presence
// specification: the lifecycle of a device (online, offline after the TTL,
// back), Sweep reporting each device once across concurrent replicas, one
// "came online" among concurrent Touch calls, a TTL under a second, and
// TouchAll answering as Touch of each device.
// replicas(t, ttl) returns a maker: every call of it within one test returns
// a Presence over the same shared state (ttl 0: the default, 60 s).
func Run(t *testing.T, replicas func(t *testing.T, ttl time.Duration) func() Presence) {
	t.Run("Lifecycle", func(t *testing.T) { testPresenceLifecycle(t, replicas(t, 0)()) })
	t.Run("SweepOncePerDeviceAcrossReplicas", func(t *testing.T) { testSweepOnce(t, replicas(t, time.Minute)) })
	t.Run("ConcurrentTouchComesOnlineOnce", func(t *testing.T) { testTouchOnce(t, replicas(t, time.Minute)) })
	t.Run("SubSecondTTL", func(t *testing.T) { testSubSecond(t, replicas(t, 250*time.Millisecond)()) })
	t.Run("TouchAllIsTouchOfEach", func(t *testing.T) { testTouchAll(t, replicas(t, time.Minute)) })
}

// testTouchAll: TouchAll of several devices answers, device by device, what
// Touch of each would (new, still online, expired, and a late time that
// does not move last seen back), leaves the same state behind (Online), and
// is a no-op for no devices.
func testTouchAll(t *testing.T, replicas func() Presence) {
	ctx := context.Background()
	p := replicas()
	for _, dev := range []int64{2, 3} {
		if _, err := p.Touch(ctx, 7, dev, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Touch(ctx, 7, 4, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	// At t0+70s: 1 is new, 2 and 3 expired at t0+60s, 4 is still online.
	got, err := p.TouchAll(ctx, 7, []int64{1, 2, 3, 4}, t0.Add(70*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, false}; !slices.Equal(got, want) {
		t.Errorf("TouchAll came online = %v, want %v", got, want)
	}
	// A late batch (t0+65s) changes nothing and brings nobody online.
	got, err = p.TouchAll(ctx, 7, []int64{1, 4}, t0.Add(65*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, false}; !slices.Equal(got, want) {
		t.Errorf("late TouchAll came online = %v, want %v", got, want)
	}
	// Last seen is t0+70s for all four: online until t0+130s.
	online, err := replicas().Online(ctx, 7, t0.Add(129*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 2, 3, 4}; !slices.Equal(online, want) {
		t.Errorf("online after TouchAll = %v, want %v", online, want)
	}
	if online, _ := p.Online(ctx, 7, t0.Add(131*time.Second)); len(online) != 0 {
		t.Errorf("online at t0+131s = %v, want none (the late batch must not have moved last seen)", online)
	}
	if got, err := p.TouchAll(ctx, 7, nil, t0); err != nil || len(got) != 0 {
		t.Errorf("TouchAll of no devices = %v, %v; want empty, nil", got, err)
	}
}

func testPresenceLifecycle(t *testing.T, p Presence) {
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
		want []Ref
	}{
		{60 * time.Second, nil},
		{70 * time.Second, []Ref{{OrgID: 2, DeviceID: 10}}},
		{95 * time.Second, []Ref{{OrgID: 1, DeviceID: 10}}},
		{100 * time.Second, nil}, // reported once only
		{200 * time.Second, []Ref{{OrgID: 1, DeviceID: 11}}},
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

func testSweepOnce(t *testing.T, replica func() Presence) {
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
	seen := map[Ref]int{}
	var wg sync.WaitGroup
	for _, p := range []Presence{a, b, a, b} {
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

func testTouchOnce(t *testing.T, replica func() Presence) {
	ctx := context.Background()
	replicas := []Presence{replica(), replica()}
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

func testSubSecond(t *testing.T, p Presence) {
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
	if want := []Ref{{OrgID: 1, DeviceID: 1}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Sweep(+749ms) = %v, %v; want %v (offline exactly TTL after)", got, err, want)
	}
}
