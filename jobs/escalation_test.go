package jobs_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/sqlite"
)

// frozenClock is a clock the test moves by hand.
type frozenClock struct{ t atomic.Pointer[time.Time] }

func (c *frozenClock) set(t time.Time) { c.t.Store(&t) }
func (c *frozenClock) now() time.Time  { return *c.t.Load() }

// chanBus hands every published event to a channel.
type chanBus struct{ ch chan vibemon.Event }

func (b *chanBus) Publish(_ context.Context, es ...vibemon.Event) error {
	for _, e := range es {
		b.ch <- e
	}
	return nil
}
func (b *chanBus) Subscribe(func(vibemon.Event)) func() { return func() {} }

// escalationEnv is a store with an org, two on-call users, a critical
// rule (reminders every 10 min, level 1 after 15 min, level 2 after 45)
// and an alert of that rule opened at opened.
type escalationEnv struct {
	store        *sqlite.Store
	clock        *frozenClock
	org          *vibemon.Org
	oncall, lead *vibemon.User
	rule         *vibemon.Rule
	alert        *vibemon.Alert
	dir          string
}

func newEscalationEnv(t *testing.T, opened time.Time) *escalationEnv {
	t.Helper()
	ctx := context.Background()
	e := &escalationEnv{clock: &frozenClock{}, dir: t.TempDir()}
	e.clock.set(opened)
	st, err := sqlite.Open(filepath.Join(e.dir, "vibemon.db"), sqlite.Options{Now: e.clock.now, Synchronous: "NORMAL"})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e.store = st
	e.org = &vibemon.Org{Name: "acme"}
	must(t, st.CreateOrg(ctx, e.org))
	e.oncall = &vibemon.User{OrgID: e.org.ID, Email: "oncall@acme.example", Name: "On call", Role: vibemon.RoleEngineer, PasswordHash: "x"}
	must(t, st.CreateUser(ctx, e.oncall))
	e.lead = &vibemon.User{OrgID: e.org.ID, Email: "lead@acme.example", Name: "Lead", Role: vibemon.RoleAdmin, PasswordHash: "x"}
	must(t, st.CreateUser(ctx, e.lead))
	dev := &vibemon.Device{OrgID: e.org.ID, Serial: "node-1"}
	_, err = st.RegisterDevice(ctx, dev)
	must(t, err)
	e.rule = &vibemon.Rule{OrgID: e.org.ID, Name: "zone D", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: 6.5,
		Severity: vibemon.SeverityCritical, Enabled: true, RemindEveryMinutes: 10,
		Escalation: []vibemon.EscalationStep{{AfterMinutes: 15, UserIDs: []int64{e.oncall.ID}}, {AfterMinutes: 45, UserIDs: []int64{e.lead.ID}}}}
	must(t, st.CreateRule(ctx, e.rule))
	e.alert = &vibemon.Alert{OrgID: e.org.ID, RuleID: e.rule.ID, DeviceID: dev.ID, Severity: vibemon.SeverityCritical,
		Metric: "vel_rms_x", Value: 8.2, Threshold: 7.1, Message: "vel_rms_x 8.2 mm/s", OpenedAt: opened, UpdatedAt: opened}
	_, err = st.UpsertAlert(ctx, e.alert)
	must(t, err)
	return e
}

// runner returns a Runner over the env's store that is not started: the
// test calls CheckEscalations itself, at the frozen clock's time.
func (e *escalationEnv) runner(t *testing.T, name string, bus vibemon.Bus) *jobs.Runner {
	t.Helper()
	r, err := jobs.New(jobs.Config{Path: filepath.Join(e.dir, name+".db"), Store: e.store, Bus: bus, Now: e.clock.now})
	must(t, err)
	t.Cleanup(r.Stop)
	return r
}

func (e *escalationEnv) timeline(t *testing.T) []*vibemon.AlertEvent {
	t.Helper()
	es, err := e.store.ListAlertEvents(context.Background(), e.org.ID, e.alert.ID)
	must(t, err)
	return es
}

type wantEvent struct {
	kind  vibemon.AlertEventKind
	at    time.Duration // after the alert opened
	level int
}

func checkTimeline(t *testing.T, got []*vibemon.AlertEvent, opened time.Time, want []wantEvent) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Kind == want[i].kind && got[i].At.Equal(opened.Add(want[i].at)) && got[i].Level == want[i].level
	}
	if !ok {
		var desc []string
		for _, e := range got {
			desc = append(desc, string(e.Kind)+"@"+e.At.Sub(opened).String())
		}
		t.Fatalf("timeline = %v, want %v", desc, want)
	}
}

// TestCriticalAlertEscalatesOnTime is the scenario with a frozen
// clock: a critical alert opened at T, escalation level 1 after 15 min and
// level 2 after 45 min, reminders every 10 min. Nothing escalates at T+14,
// level 1 does at T+15 exactly once although two workers check at the same
// moment, and an acknowledgement at T+20 stops every further reminder and
// escalation.
func TestCriticalAlertEscalatesOnTime(t *testing.T) {
	T := time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)
	e := newEscalationEnv(t, T)
	bus := &chanBus{ch: make(chan vibemon.Event, 100)}
	w1, w2 := e.runner(t, "jobs1", bus), e.runner(t, "jobs2", bus)
	ctx := context.Background()
	check := func(r *jobs.Runner) int {
		n, err := r.CheckEscalations(ctx)
		must(t, err)
		return n
	}

	e.clock.set(T.Add(14 * time.Minute))
	if n := check(w1); n != 1 {
		t.Fatalf("at T+14 appended %d events, want only the T+10 reminder", n)
	}
	a, err := e.store.GetAlert(ctx, e.org.ID, e.alert.ID)
	must(t, err)
	if a.EscalationLevel != 0 {
		t.Fatalf("escalation level at T+14 = %d, want 0", a.EscalationLevel)
	}

	e.clock.set(T.Add(15 * time.Minute))
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, w := range []*jobs.Runner{w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := w.CheckEscalations(ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	if total.Load() != 1 {
		t.Fatalf("two workers at T+15 appended %d events, want the level 1 escalation once", total.Load())
	}
	if n := check(w1); n != 0 {
		t.Errorf("a rerun at T+15 appended %d events", n)
	}
	a, err = e.store.GetAlert(ctx, e.org.ID, e.alert.ID)
	must(t, err)
	if a.EscalationLevel != 1 {
		t.Errorf("escalation level at T+15 = %d, want 1", a.EscalationLevel)
	}

	_, err = e.store.AckAlert(ctx, e.org.ID, e.alert.ID, e.oncall.ID, "on my way", T.Add(20*time.Minute))
	must(t, err)
	for _, m := range []time.Duration{20, 30, 45, 60, 180} {
		e.clock.set(T.Add(m * time.Minute))
		if n := check(w1); n != 0 {
			t.Errorf("after the acknowledgement, at T+%d appended %d events", m, n)
		}
	}
	checkTimeline(t, e.timeline(t), T, []wantEvent{
		{vibemon.EventOpened, 0, 0},
		{vibemon.EventReminded, 10 * time.Minute, 0},
		{vibemon.EventEscalated, 15 * time.Minute, 1},
		{vibemon.EventAcknowledged, 20 * time.Minute, 0},
	})

	// Live clients heard of the reminder and the escalation, once each,
	// with the alert as it was after each.
	close(bus.ch)
	var live []string
	for ev := range bus.ch {
		var msg struct {
			ID              int64 `json:"id"`
			EscalationLevel int   `json:"escalation_level"`
			Event           *vibemon.AlertEvent
		}
		must(t, json.Unmarshal(ev.Data, &msg))
		if ev.Type != vibemon.EventAlert || msg.ID != e.alert.ID || msg.Event == nil {
			t.Fatalf("published %s %s, want an alert message with its event", ev.Type, ev.Data)
		}
		live = append(live, string(msg.Event.Kind))
		if msg.Event.Kind == vibemon.EventEscalated && (msg.Event.Level != 1 || msg.EscalationLevel != 1) {
			t.Errorf("escalation message = %s, want level 1", ev.Data)
		}
	}
	if len(live) != 2 || live[0] != "reminded" || live[1] != "escalated" {
		t.Errorf("published events = %v, want [reminded escalated]", live)
	}
}

// TestEscalationCatchesUpAfterDowntime: when nothing checked for an hour,
// one run escalates level by level and sends one reminder, not six.
func TestEscalationCatchesUpAfterDowntime(t *testing.T) {
	T := time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)
	e := newEscalationEnv(t, T)
	w := e.runner(t, "jobs", nil)
	e.clock.set(T.Add(63 * time.Minute))
	n, err := w.CheckEscalations(context.Background())
	must(t, err)
	if n != 3 {
		t.Errorf("appended %d events, want 3", n)
	}
	checkTimeline(t, e.timeline(t), T, []wantEvent{
		{vibemon.EventOpened, 0, 0},
		{vibemon.EventEscalated, 15 * time.Minute, 1},
		{vibemon.EventEscalated, 45 * time.Minute, 2},
		{vibemon.EventReminded, 60 * time.Minute, 0},
	})
}

// TestEscalationRunsPeriodically checks that a started Runner checks
// escalations by itself (River's periodic job, run on start).
func TestEscalationRunsPeriodically(t *testing.T) {
	T := time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)
	e := newEscalationEnv(t, T)
	e.clock.set(T.Add(16 * time.Minute))
	bus := &chanBus{ch: make(chan vibemon.Event, 100)}
	r := e.runner(t, "jobs", bus)
	must(t, r.Start(context.Background()))
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-bus.ch:
			var msg struct{ Event *vibemon.AlertEvent }
			must(t, json.Unmarshal(ev.Data, &msg))
			if msg.Event != nil && msg.Event.Kind == vibemon.EventEscalated && msg.Event.Level == 1 {
				return
			}
		case <-timeout:
			t.Fatal("no escalation published within 30 s of starting the runner")
		}
	}
}
