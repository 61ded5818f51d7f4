package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// kinds returns the kinds of es in order.
func kinds(es []*vibemon.AlertEvent) []vibemon.AlertEventKind {
	out := []vibemon.AlertEventKind{}
	for _, e := range es {
		out = append(out, e.Kind)
	}
	return out
}

func timeline(t *testing.T, s vibemon.Store, orgID, alertID int64) []*vibemon.AlertEvent {
	t.Helper()
	es, err := s.ListAlertEvents(ctx(t), orgID, alertID)
	must(t, err)
	for i := 1; i < len(es); i++ {
		if es[i].ID <= es[i-1].ID {
			t.Fatalf("timeline not ordered by id: %d after %d", es[i].ID, es[i-1].ID)
		}
	}
	return es
}

func (tn *tenant) addUser(t *testing.T, s vibemon.Store, email string, role vibemon.Role) *vibemon.User {
	t.Helper()
	u := &vibemon.User{OrgID: tn.org.ID, Email: email, Name: email, Role: role, PasswordHash: "x"}
	must(t, s.CreateUser(ctx(t), u))
	return u
}

// testAlertTimeline walks an alert through its lifecycle and checks that
// every state change appends exactly one event, with who, when and what,
// and that refused changes append none.
func testAlertTimeline(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	tech := a.addUser(t, s, "tech@a.example", vibemon.RoleEngineer)
	rule := newRule(t, s, a)

	al := newAlert(a, rule, 8, base)
	opened, err := s.UpsertAlert(ctx(t), al)
	must(t, err)
	if !opened || al.AssigneeID != 0 || al.EscalationLevel != 0 {
		t.Fatalf("new alert = opened %v %+v, want open, unassigned, level 0", opened, al)
	}
	if al.Appended == nil || al.Appended.Kind != vibemon.EventOpened || al.Appended.ID == 0 {
		t.Errorf("opening UpsertAlert appended %+v, want the opened event", al.Appended)
	}
	upd := newAlert(a, rule, 9, base.Add(time.Minute))
	_, err = s.UpsertAlert(ctx(t), upd) // an update: no event
	must(t, err)
	if upd.Appended != nil {
		t.Errorf("updating UpsertAlert appended %+v, want none", upd.Appended)
	}

	asg, err := s.AssignAlert(ctx(t), a.org.ID, al.ID, tech.ID, a.user.ID, base.Add(2*time.Minute))
	must(t, err)
	if asg.AssigneeID != tech.ID || asg.Status != vibemon.AlertOpen || asg.Appended == nil || asg.Appended.Kind != vibemon.EventAssigned {
		t.Errorf("AssignAlert = %+v, want assignee %d, still open", asg, tech.ID)
	}
	_, err = s.AssignAlert(ctx(t), a.org.ID, al.ID, b.user.ID, a.user.ID, base.Add(2*time.Minute))
	wantCode(t, err, vibemon.EINVALID) // a user of another org
	_, err = s.AssignAlert(ctx(t), b.org.ID, al.ID, b.user.ID, b.user.ID, base.Add(2*time.Minute))
	wantCode(t, err, vibemon.ENOTFOUND) // another org's alert

	c := &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventCommented, At: base.Add(3 * time.Minute),
		UserID: tech.ID, Comment: "  bearing housing is hot to the touch "}
	must(t, s.AddAlertEvent(ctx(t), c))
	if c.ID == 0 || c.Comment != "bearing housing is hot to the touch" {
		t.Errorf("AddAlertEvent(commented) = %+v, want an id and the trimmed comment", c)
	}
	for _, bad := range []*vibemon.AlertEvent{
		{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventCommented, At: base, UserID: tech.ID, Comment: " "},
		{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventAcknowledged, At: base, UserID: tech.ID},
		{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventEscalated, At: base},
	} {
		wantCode(t, s.AddAlertEvent(ctx(t), bad), vibemon.EINVALID)
	}
	wantCode(t, s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: b.org.ID, AlertID: al.ID, Kind: vibemon.EventCommented,
		At: base, UserID: b.user.ID, Comment: "not yours"}), vibemon.ENOTFOUND)

	ackAt := base.Add(5 * time.Minute)
	ack, err := s.AckAlert(ctx(t), a.org.ID, al.ID, tech.ID, "replacing the bearing tonight", ackAt)
	must(t, err)
	if ack.Appended == nil || ack.Appended.Kind != vibemon.EventAcknowledged || ack.Appended.Comment != "replacing the bearing tonight" {
		t.Errorf("AckAlert appended %+v", ack.Appended)
	}
	_, err = s.AckAlert(ctx(t), a.org.ID, al.ID, tech.ID, "again", ackAt)
	wantCode(t, err, vibemon.ECONFLICT)
	wantCode(t, s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventEscalated,
		At: ackAt, Level: 1}), vibemon.ECONFLICT) // acknowledged alerts do not escalate
	wantCode(t, s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventReminded,
		At: ackAt}), vibemon.ECONFLICT)

	resAt := base.Add(30 * time.Minute)
	res, err := s.ResolveAlert(ctx(t), a.org.ID, al.ID, 0, resAt)
	must(t, err)
	if res.Appended == nil || res.Appended.Kind != vibemon.EventResolved {
		t.Errorf("ResolveAlert appended %+v", res.Appended)
	}
	_, err = s.ResolveAlert(ctx(t), a.org.ID, al.ID, a.user.ID, resAt)
	wantCode(t, err, vibemon.ECONFLICT)
	_, err = s.AssignAlert(ctx(t), a.org.ID, al.ID, a.user.ID, a.user.ID, resAt)
	wantCode(t, err, vibemon.ECONFLICT)
	// A note after the fact is still welcome.
	must(t, s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventCommented,
		At: resAt.Add(time.Hour), UserID: tech.ID, Comment: "outer race spalled, see photo"}))

	es := timeline(t, s, a.org.ID, al.ID)
	want := []vibemon.AlertEventKind{vibemon.EventOpened, vibemon.EventAssigned, vibemon.EventCommented,
		vibemon.EventAcknowledged, vibemon.EventResolved, vibemon.EventCommented}
	if !reflect.DeepEqual(kinds(es), want) {
		t.Fatalf("timeline = %v, want %v", kinds(es), want)
	}
	checks := []vibemon.AlertEvent{
		{Kind: vibemon.EventOpened, At: base, UserID: 0},
		{Kind: vibemon.EventAssigned, At: base.Add(2 * time.Minute), UserID: a.user.ID, AssigneeID: tech.ID},
		{Kind: vibemon.EventCommented, At: base.Add(3 * time.Minute), UserID: tech.ID, Comment: "bearing housing is hot to the touch"},
		{Kind: vibemon.EventAcknowledged, At: ackAt, UserID: tech.ID, Comment: "replacing the bearing tonight"},
		{Kind: vibemon.EventResolved, At: resAt, UserID: 0},
	}
	for i, w := range checks {
		g := *es[i]
		if g.OrgID != a.org.ID || g.AlertID != al.ID || !g.At.Equal(w.At) || g.UserID != w.UserID || g.AssigneeID != w.AssigneeID ||
			g.Comment != w.Comment || g.Level != 0 {
			t.Errorf("event %d = %+v, want %+v of alert %d", i, g, w, al.ID)
		}
	}
	_, err = s.ListAlertEvents(ctx(t), b.org.ID, al.ID)
	wantCode(t, err, vibemon.ENOTFOUND)

	// Unassigning is an event too.
	next := newAlert(a, rule, 8, base.Add(2*time.Hour))
	_, err = s.UpsertAlert(ctx(t), next)
	must(t, err)
	_, err = s.AssignAlert(ctx(t), a.org.ID, next.ID, tech.ID, a.user.ID, base.Add(2*time.Hour))
	must(t, err)
	un, err := s.AssignAlert(ctx(t), a.org.ID, next.ID, 0, tech.ID, base.Add(3*time.Hour))
	must(t, err)
	if un.AssigneeID != 0 {
		t.Errorf("AssignAlert(0) left assignee %d", un.AssigneeID)
	}
	if k := kinds(timeline(t, s, a.org.ID, next.ID)); !reflect.DeepEqual(k, []vibemon.AlertEventKind{vibemon.EventOpened, vibemon.EventAssigned, vibemon.EventAssigned}) {
		t.Errorf("timeline of the second alert = %v", k)
	}
}

// testAlertEscalationOnce checks that escalations and reminders are
// appended at most once each, also when two workers race.
func testAlertEscalationOnce(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rule := newRule(t, s, a)
	al := newAlert(a, rule, 8, base)
	_, err := s.UpsertAlert(ctx(t), al)
	must(t, err)

	esc := func(level int, at time.Time) error {
		return s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventEscalated, At: at, Level: level})
	}
	must(t, esc(1, base.Add(15*time.Minute)))
	wantCode(t, esc(1, base.Add(16*time.Minute)), vibemon.ECONFLICT)
	got, err := s.GetAlert(ctx(t), a.org.ID, al.ID)
	must(t, err)
	if got.EscalationLevel != 1 {
		t.Errorf("escalation level after level 1 = %d", got.EscalationLevel)
	}

	remind := func(at time.Time) error {
		return s.AddAlertEvent(ctx(t), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventReminded, At: at})
	}
	must(t, remind(base.Add(10*time.Minute)))
	wantCode(t, remind(base.Add(10*time.Minute)), vibemon.ECONFLICT)
	wantCode(t, remind(base.Add(5*time.Minute)), vibemon.ECONFLICT)
	must(t, remind(base.Add(20*time.Minute)))

	// Eight workers try to escalate to level 2 at once: one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.AddAlertEvent(context.Background(), &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID,
				Kind: vibemon.EventEscalated, At: base.Add(45 * time.Minute), Level: 2})
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, err, vibemon.ECONFLICT)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing escalations to level 2 succeeded, want 1", ok, n)
	}
	wantCode(t, esc(1, base.Add(50*time.Minute)), vibemon.ECONFLICT) // never back down

	es := timeline(t, s, a.org.ID, al.ID)
	want := []vibemon.AlertEventKind{vibemon.EventOpened, vibemon.EventEscalated, vibemon.EventReminded, vibemon.EventReminded, vibemon.EventEscalated}
	if !reflect.DeepEqual(kinds(es), want) {
		t.Fatalf("timeline = %v, want %v", kinds(es), want)
	}
	if es[1].Level != 1 || es[4].Level != 2 || es[2].Level != 0 || !es[3].At.Equal(base.Add(20*time.Minute)) {
		t.Errorf("levels/times = %+v %+v %+v %+v", es[1], es[2], es[3], es[4])
	}
	got, err = s.GetAlert(ctx(t), a.org.ID, al.ID)
	must(t, err)
	if got.EscalationLevel != 2 {
		t.Errorf("escalation level = %d, want 2", got.EscalationLevel)
	}

	// Racing acknowledgements: one wins, one event.
	errs = make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AckAlert(context.Background(), a.org.ID, al.ID, a.user.ID, "mine", base.Add(time.Hour))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok = 0
	for err := range errs {
		if err == nil {
			ok++
		}
	}
	es = timeline(t, s, a.org.ID, al.ID)
	if ok != 1 || es[len(es)-1].Kind != vibemon.EventAcknowledged || es[len(es)-2].Kind == vibemon.EventAcknowledged {
		t.Errorf("racing acks: %d succeeded, timeline %v; want one ack and one acknowledged event", ok, kinds(es))
	}
}

// testAlertEventsAfter checks the outbox: every org's events, in id order,
// paged without gaps or repeats.
func testAlertEventsAfter(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	ra, rb := newRule(t, s, a), newRule(t, s, b)
	start, err := s.AlertEventsAfter(ctx(t), 0, 1000)
	must(t, err)
	var last int64
	if len(start) > 0 {
		last = start[len(start)-1].ID
	}
	var want []int64
	for i := 0; i < 3; i++ {
		for _, x := range []struct {
			tn *tenant
			r  *vibemon.Rule
		}{{a, ra}, {b, rb}} {
			al := newAlert(x.tn, x.r, 8, base.Add(time.Duration(i)*time.Hour))
			_, err := s.UpsertAlert(ctx(t), al)
			must(t, err)
			_, err = s.ResolveAlert(ctx(t), x.tn.org.ID, al.ID, 0, base.Add(time.Duration(i)*time.Hour+time.Minute))
			must(t, err)
			for _, e := range timeline(t, s, x.tn.org.ID, al.ID) {
				want = append(want, e.ID)
			}
		}
	}
	var got []int64
	orgs := map[int64]bool{}
	for cursor := last; ; {
		page, err := s.AlertEventsAfter(ctx(t), cursor, 4)
		must(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 4 {
			t.Fatalf("page of %d events, limit 4", len(page))
		}
		for _, e := range page {
			got = append(got, e.ID)
			orgs[e.OrgID] = true
		}
		cursor = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, want) || !orgs[a.org.ID] || !orgs[b.org.ID] {
		t.Errorf("AlertEventsAfter pages = %v (orgs %v), want %v from both orgs", got, orgs, want)
	}
}

// testRuleEscalation checks that a rule's reminder and escalation policy
// round-trips, names only users of its org, and selects DueAlerts.
func testRuleEscalation(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	lead := a.addUser(t, s, "lead@a.example", vibemon.RoleAdmin)
	r := &vibemon.Rule{OrgID: a.org.ID, Name: "zone D", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: 6.5,
		Severity: vibemon.SeverityCritical, Enabled: true, RemindEveryMinutes: 10,
		Escalation: []vibemon.EscalationStep{{AfterMinutes: 15, UserIDs: []int64{a.user.ID}}, {AfterMinutes: 45, UserIDs: []int64{lead.ID, a.user.ID}}}}
	must(t, s.CreateRule(ctx(t), r))
	got, err := s.GetRule(ctx(t), a.org.ID, r.ID)
	must(t, err)
	if !reflect.DeepEqual(got, r) {
		t.Errorf("GetRule = %+v, want %+v", got, r)
	}
	plain := newRule(t, s, a)
	if plain.Escalation == nil || len(plain.Escalation) != 0 || plain.RemindEveryMinutes != 0 {
		t.Errorf("rule without a policy = %+v, want no reminders and an empty escalation", plain)
	}
	for name, steps := range map[string][]vibemon.EscalationStep{
		"another org's user": {{AfterMinutes: 15, UserIDs: []int64{b.user.ID}}},
		"unordered":          {{AfterMinutes: 45, UserIDs: []int64{a.user.ID}}, {AfterMinutes: 15, UserIDs: []int64{lead.ID}}},
		"zero minutes":       {{AfterMinutes: 0, UserIDs: []int64{a.user.ID}}},
		"nobody":             {{AfterMinutes: 5}},
	} {
		bad := *r
		bad.ID, bad.Escalation = 0, steps
		err := s.CreateRule(ctx(t), &bad)
		if err == nil {
			t.Errorf("CreateRule with %s in its escalation succeeded", name)
		}
		wantCode(t, err, vibemon.EINVALID)
	}
	upd := *got
	upd.Escalation = []vibemon.EscalationStep{{AfterMinutes: 5, UserIDs: []int64{b.user.ID}}}
	wantCode(t, s.UpdateRule(ctx(t), &upd), vibemon.EINVALID)
	upd.Escalation, upd.RemindEveryMinutes = nil, 0
	must(t, s.UpdateRule(ctx(t), &upd))
	got, err = s.GetRule(ctx(t), a.org.ID, r.ID)
	must(t, err)
	if len(got.Escalation) != 0 || got.RemindEveryMinutes != 0 {
		t.Errorf("policy after removing it = %+v", got)
	}
	upd.RemindEveryMinutes = 10
	must(t, s.UpdateRule(ctx(t), &upd))

	// DueAlerts: open alerts of rules with a policy, not acknowledged ones,
	// not those of rules without one.
	withPolicy := newAlert(a, got, 8, base)
	_, err = s.UpsertAlert(ctx(t), withPolicy)
	must(t, err)
	withoutPolicy := newAlert(a, plain, 8, base)
	_, err = s.UpsertAlert(ctx(t), withoutPolicy)
	must(t, err)
	d2 := a.addDevice(t, s, "a-node-2")
	acked := newAlert(a, got, 8, base)
	acked.DeviceID = d2.ID
	_, err = s.UpsertAlert(ctx(t), acked)
	must(t, err)
	_, err = s.AckAlert(ctx(t), a.org.ID, acked.ID, a.user.ID, "", base)
	must(t, err)
	due, err := s.DueAlerts(ctx(t), 0, 100)
	must(t, err)
	if len(due) != 1 || due[0].ID != withPolicy.ID {
		t.Errorf("DueAlerts = %d alerts, want only alert %d", len(due), withPolicy.ID)
	}
	due, err = s.DueAlerts(ctx(t), withPolicy.ID, 100)
	must(t, err)
	if len(due) != 0 {
		t.Errorf("DueAlerts after the last id = %d alerts", len(due))
	}
}

// testAlertEventsAfterConcurrent reads the outbox while writers append to
// it: a reader that only remembers the last id it saw must still see every
// event (ids increase in commit order, also with concurrent writers).
func testAlertEventsAfterConcurrent(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	rule := newRule(t, s, a)
	start, err := s.AlertEventsAfter(ctx(t), 0, 1000)
	must(t, err)
	var cursor int64
	if len(start) > 0 {
		cursor = start[len(start)-1].ID
	}
	first := cursor
	const writers, rounds = 4, 8
	devices := make([]*vibemon.Device, writers)
	for i := range devices {
		devices[i] = a.addDevice(t, s, fmt.Sprintf("a-node-w%d", i))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := context.Background()
			for r := 0; r < rounds; r++ {
				at := base.Add(time.Duration(r) * time.Hour)
				al := newAlert(a, rule, 8, at)
				al.DeviceID = devices[w].ID
				if _, err := s.UpsertAlert(c, al); err != nil {
					errs <- err
					return
				}
				if err := s.AddAlertEvent(c, &vibemon.AlertEvent{OrgID: a.org.ID, AlertID: al.ID, Kind: vibemon.EventCommented,
					At: at, UserID: a.user.ID, Comment: "checked"}); err != nil {
					errs <- err
					return
				}
				if _, err := s.ResolveAlert(c, a.org.ID, al.ID, 0, at.Add(time.Minute)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var seen []int64
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := s.AlertEventsAfter(ctx(t), cursor, 7)
		must(t, err)
		for _, e := range page {
			seen = append(seen, e.ID)
			cursor = e.ID
		}
		if finished && len(page) == 0 {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	all, err := s.AlertEventsAfter(ctx(t), first, 1000)
	must(t, err)
	if len(all) != writers*rounds*3 {
		t.Fatalf("%d events stored, want %d", len(all), writers*rounds*3)
	}
	if len(seen) != len(all) {
		t.Errorf("a reader polling during the writes saw %d of %d events: ids arrive out of commit order", len(seen), len(all))
	}
}
