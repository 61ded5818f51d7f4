package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/notify"
	"github.com/vibemon/vibemon/sqlite"
)

// fakeClock is the injected clock of the store, the Runner and River: it
// stands still at t, or, after Follow, runs with the wall clock shifted.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	follow bool
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.follow {
		return time.Now().Add(c.offset)
	}
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.follow = t, false
}

// Follow makes the clock run, offset from the wall clock.
func (c *fakeClock) Follow(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.follow, c.offset = true, offset
}

func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// mailbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps
// what it accepts. hold, when set, is called before a message is accepted
// and may block or refuse it.
type mailbox struct {
	mu   sync.Mutex
	msgs []*mail.Message
	raw  []string
	got  chan struct{} // a message arrived
	hold func(n int) error
	seen int
	port int
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.seen++
	n, hold := s.mb.seen, s.mb.hold
	s.mb.mu.Unlock()
	if hold != nil {
		if err := hold(n); err != nil {
			return err
		}
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, m)
	s.mb.raw = append(s.mb.raw, string(b))
	s.mb.mu.Unlock()
	s.mb.got <- struct{}{}
	return nil
}

func startMailbox(t *testing.T, hold func(n int) error) *mailbox {
	t.Helper()
	mb := &mailbox{got: make(chan struct{}, 1000), hold: hold}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	mb.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mb
}

func (mb *mailbox) messages() []*mail.Message {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]*mail.Message(nil), mb.msgs...)
}

// wait blocks until the mailbox holds n messages.
func (mb *mailbox) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for len(mb.messages()) < n {
		select {
		case <-mb.got:
		case <-deadline:
			t.Fatalf("mailbox holds %d messages after 60 s, want %d", len(mb.messages()), n)
		}
	}
}

// logWatch is a slog handler that signals each record whose message
// contains a phrase, so that tests await what the Runner did.
type logWatch struct {
	phrase string
	c      chan slog.Record
}

func (h *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h *logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.phrase) {
		select {
		case h.c <- r:
		default:
		}
	}
	return nil
}
func (h *logWatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logWatch) WithGroup(string) slog.Handler      { return h }

type notifyEnv struct {
	dir    string
	clock  *fakeClock
	store  *sqlite.Store
	mail   *mailbox
	org    *vibemon.Org
	owner  *vibemon.User
	rule   *vibemon.Rule
	device *vibemon.Device
	cfg    jobs.NotifyConfig
	log    *slog.Logger
}

// newNotifyEnv makes an org with an owner (e-mail on, every severity), a
// device and a rule, an SMTP mailbox and e-mail as the only channel.
func newNotifyEnv(t *testing.T, start time.Time, hold func(n int) error) *notifyEnv {
	t.Helper()
	e := &notifyEnv{dir: t.TempDir(), clock: &fakeClock{t: start}, log: slog.New(slog.DiscardHandler)}
	st, err := sqlite.Open(filepath.Join(e.dir, "vibemon.db"), sqlite.Options{Now: e.clock.Now, Synchronous: "NORMAL"})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e.store = st
	ctx := context.Background()
	e.org = &vibemon.Org{Name: "acme"}
	must(t, st.CreateOrg(ctx, e.org))
	e.owner = e.addUser(t, "owner@acme.example", vibemon.SeverityInfo)
	asset := &vibemon.Asset{OrgID: e.org.ID, Name: "pump 3", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must(t, st.CreateAsset(ctx, asset))
	e.device = &vibemon.Device{OrgID: e.org.ID, AssetID: asset.ID, Serial: "node-1"}
	_, err = st.RegisterDevice(ctx, e.device)
	must(t, err)
	e.rule = &vibemon.Rule{OrgID: e.org.ID, Name: "vibration", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, st.CreateRule(ctx, e.rule))
	e.mail = startMailbox(t, hold)
	email, err := notify.NewEmail(notify.EmailConfig{Host: "127.0.0.1", Port: e.mail.port, Security: notify.SMTPNoTLS,
		From: "VibeMon <alerts@vibemon.example>", Timeout: 20 * time.Second, Now: e.clock.Now})
	must(t, err)
	chans := &notify.Channels{}
	chans.Register(notify.ChannelEmail, email)
	e.cfg = jobs.NotifyConfig{Channels: chans, PublicURL: "https://vibemon.example/", PollInterval: time.Hour}
	return e
}

func (e *notifyEnv) addUser(t *testing.T, email string, min vibemon.Severity) *vibemon.User {
	t.Helper()
	u := &vibemon.User{OrgID: e.org.ID, Email: email, Name: strings.Split(email, "@")[0], Role: vibemon.RoleEngineer, PasswordHash: "x"}
	must(t, e.store.CreateUser(context.Background(), u))
	p := vibemon.DefaultNotificationPrefs(e.org.ID, u.ID)
	p.Channels, p.MinSeverity = []string{vibemon.ChannelEmail}, min
	must(t, e.store.PutNotificationPrefs(context.Background(), p))
	return u
}

// runner starts a Runner on the environment's job database.
func (e *notifyEnv) runner(t *testing.T) *jobs.Runner {
	t.Helper()
	cfg := e.cfg
	r, err := jobs.New(jobs.Config{Path: filepath.Join(e.dir, "jobs.db"), Store: e.store, Orgs: e.store, Now: e.clock.Now,
		RiverNow: e.clock.Now, Notify: &cfg, Logger: e.log})
	must(t, err)
	t.Cleanup(r.Stop)
	must(t, r.Start(context.Background()))
	return r
}

// open raises an alert of sev on a new device, which appends its "opened" event.
func (e *notifyEnv) open(t *testing.T, sev vibemon.Severity, msg string) *vibemon.Alert {
	t.Helper()
	ctx := context.Background()
	d := &vibemon.Device{OrgID: e.org.ID, AssetID: e.device.AssetID, Serial: fmt.Sprintf("node-%d", time.Now().UnixNano())}
	_, err := e.store.RegisterDevice(ctx, d)
	must(t, err)
	rule := *e.rule
	rule.ID, rule.Severity = 0, sev
	must(t, e.store.CreateRule(ctx, &rule))
	a := &vibemon.Alert{OrgID: e.org.ID, RuleID: rule.ID, DeviceID: d.ID, Severity: sev, Metric: "vel_rms_x",
		Value: 11.2, Threshold: 7.1, Message: msg, UpdatedAt: e.clock.Now()}
	opened, err := e.store.UpsertAlert(ctx, a)
	must(t, err)
	if !opened {
		t.Fatalf("alert %q was not opened", msg)
	}
	return a
}

func (e *notifyEnv) delivery(t *testing.T, key string) *vibemon.Delivery {
	t.Helper()
	d, err := e.store.GetDelivery(context.Background(), key)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return nil
	}
	must(t, err)
	return d
}

// waitDelivery waits until the ledger says key is in status.
func (e *notifyEnv) waitDelivery(t *testing.T, key string, status vibemon.DeliveryStatus) *vibemon.Delivery {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if d := e.delivery(t, key); d != nil && d.Status == status {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s = %+v after 60 s, want %s", key, e.delivery(t, key), status)
		}
		time.Sleep(20 * time.Millisecond) // polling the ledger: River offers no completion event across clients
	}
}

func lastEventID(t *testing.T, st vibemon.Store) int64 {
	t.Helper()
	evs, err := st.AlertEventsAfter(context.Background(), 0, 1000)
	must(t, err)
	if len(evs) == 0 {
		t.Fatal("no alert events")
	}
	return evs[len(evs)-1].ID
}

// A real SMTP server gets exactly one message per (event, recipient): the
// severity filter holds, and dispatching again (also from a cursor that a
// crash left behind) sends nothing more.
func TestNotifyEmailOncePerEventAndRecipient(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), nil)
	oncall := e.addUser(t, "oncall@acme.example", vibemon.SeverityCritical)
	off := e.addUser(t, "off@acme.example", vibemon.SeverityInfo)
	p, _ := e.store.GetNotificationPrefs(context.Background(), e.org.ID, off.ID)
	p.Channels = []string{}
	must(t, e.store.PutNotificationPrefs(context.Background(), p))
	r := e.runner(t)

	warn := e.open(t, vibemon.SeverityWarning, "Pump 3 vibration 8.0 mm/s")
	crit := e.open(t, vibemon.SeverityCritical, "Pump 3 vibration 11.2 mm/s")
	_, err := r.DispatchNotifications(context.Background())
	must(t, err)
	e.mail.wait(t, 3)
	critEvent := lastEventID(t, e.store)
	e.waitDelivery(t, jobs.DeliveryKey(critEvent, oncall.ID, 0, "email"), vibemon.DeliveryDelivered)
	e.waitDelivery(t, jobs.DeliveryKey(critEvent, e.owner.ID, 0, "email"), vibemon.DeliveryDelivered)
	e.waitDelivery(t, jobs.DeliveryKey(critEvent-1, e.owner.ID, 0, "email"), vibemon.DeliveryDelivered)

	// A dispatcher that crashed before moving its cursor runs again.
	cur, err := e.store.NotifyCursor(context.Background(), "alert_events")
	must(t, err)
	must(t, e.store.AdvanceNotifyCursor(context.Background(), "alert_events", cur, 0))
	n, err := r.DispatchNotifications(context.Background())
	must(t, err)
	if n != 0 {
		t.Errorf("dispatching the same events again inserted %d jobs, want 0", n)
	}

	got := map[string][]string{}
	for _, m := range e.mail.messages() {
		got[m.Header.Get("To")] = append(got[m.Header.Get("To")], m.Header.Get("Subject"))
	}
	want := map[string]int{`"owner" <owner@acme.example>`: 2, `"oncall" <oncall@acme.example>`: 1}
	if len(got) != len(want) {
		t.Fatalf("recipients = %v, want %v", got, want)
	}
	for to, n := range want {
		if len(got[to]) != n {
			t.Errorf("%s got %v, want %d messages", to, got[to], n)
		}
	}
	for _, raw := range e.mail.raw {
		if !strings.Contains(raw, fmt.Sprintf("https://vibemon.example/alerts/%d", crit.ID)) && !strings.Contains(raw, fmt.Sprintf("https://vibemon.example/alerts/%d", warn.ID)) {
			t.Errorf("a message has no link to its alert:\n%s", raw)
		}
	}
}

// Quiet hours defer a warning to their end, in the user's time zone; the
// message then goes out once.
func TestNotifyQuietHoursDefer(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	must(t, err)
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 23, 30, 0, 0, berlin), nil)
	watch := &logWatch{phrase: "quiet hours", c: make(chan slog.Record, 10)}
	e.log = slog.New(watch)
	p, _ := e.store.GetNotificationPrefs(context.Background(), e.org.ID, e.owner.ID)
	p.QuietStart, p.QuietEnd, p.TimeZone = "22:00", "07:00", "Europe/Berlin"
	must(t, e.store.PutNotificationPrefs(context.Background(), p))
	r := e.runner(t)

	e.open(t, vibemon.SeverityWarning, "Fan 2 vibration 7.5 mm/s")
	_, err = r.DispatchNotifications(context.Background())
	must(t, err)
	select {
	case rec := <-watch.c:
		var until time.Time
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "until" {
				until = a.Value.Time()
			}
			return true
		})
		if want := time.Date(2026, 12, 1, 7, 0, 0, 0, berlin); !until.Equal(want) {
			t.Errorf("deferred until %v, want %v", until, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the notification was not deferred within 60 s")
	}
	// River records the snooze after the worker returns; the clock moves
	// only once it has.
	deadline := time.Now().Add(60 * time.Second)
	for {
		states, err := r.JobStates(context.Background(), "notify_delivery")
		must(t, err)
		if len(states) == 1 && states[0] == "scheduled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery job states = %v after 60 s, want [scheduled]", states)
		}
		time.Sleep(20 * time.Millisecond) // polling River's table: no event crosses into the test
	}
	if n := len(e.mail.messages()); n != 0 {
		t.Fatalf("%d messages during quiet hours, want 0", n)
	}
	e.clock.Set(time.Date(2026, 12, 1, 7, 0, 1, 0, berlin))
	e.mail.wait(t, 1)
	e.waitDelivery(t, jobs.DeliveryKey(lastEventID(t, e.store), e.owner.ID, 0, "email"), vibemon.DeliveryDelivered)
	if n := len(e.mail.messages()); n != 1 {
		t.Errorf("%d messages after quiet hours, want 1", n)
	}
}

// A worker killed while the SMTP server holds the message (the server never
// accepts it) leaves its job running; the next Runner on the same job
// database rescues it and sends again: one message arrives, not zero, not two.
func TestNotifyWorkerKilledMidSendResendsOnce(t *testing.T) {
	t.Parallel()
	inData := make(chan struct{})
	release := make(chan struct{})
	hold := func(n int) error {
		if n == 1 {
			close(inData)
			<-release
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection lost"}
		}
		return nil
	}
	// River's rescuer finds stuck jobs by the wall clock (not the injected
	// one), so this test's frozen clock starts 3 hours before the wall clock.
	e := newNotifyEnv(t, time.Now().Add(-3*time.Hour).Truncate(time.Second), hold)
	r1 := e.runner(t)
	e.open(t, vibemon.SeverityCritical, "Compressor 1 vibration 14 mm/s")
	_, err := r1.DispatchNotifications(context.Background())
	must(t, err)
	select {
	case <-inData:
	case <-time.After(60 * time.Second):
		t.Fatal("the first attempt did not reach the SMTP server within 60 s")
	}
	r1.Kill()
	close(release) // the dead worker's connection drops; nothing was accepted

	key := jobs.DeliveryKey(lastEventID(t, e.store), e.owner.ID, 0, "email")
	if d := e.delivery(t, key); d == nil || d.Status != vibemon.DeliverySending {
		t.Fatalf("ledger after the kill = %+v, want sending", d)
	}
	// River rescues a job that has been running longer than its rescue
	// time (1 hour by default) and retries it a second later: from here the
	// clock runs.
	e.clock.Follow(0)
	e.runner(t)
	e.mail.wait(t, 1)
	d := e.waitDelivery(t, key, vibemon.DeliveryDelivered)
	if d.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (the killed one and the resend)", d.Attempts)
	}
	if n := len(e.mail.messages()); n != 1 {
		t.Errorf("%d messages arrived, want exactly 1", n)
	}
}

// A storm of 30 alerts in a minute reaches a recipient as RateLimit messages
// and one summary of the rest at the end of the rate window.
func TestNotifyStormBecomesSummary(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), nil)
	e.cfg.RateLimit, e.cfg.RateWindow = 3, 10*time.Minute
	r := e.runner(t)
	var first int64
	for i := range 30 {
		e.open(t, vibemon.SeverityWarning, fmt.Sprintf("Line %d vibration high", i+1))
		if i == 0 {
			first = lastEventID(t, e.store)
		}
		e.clock.Add(2 * time.Second)
	}
	_, err := r.DispatchNotifications(context.Background())
	must(t, err)
	for ev := first; ev < first+30; ev++ {
		deadline := time.Now().Add(60 * time.Second)
		for {
			d := e.delivery(t, jobs.DeliveryKey(ev, e.owner.ID, 0, "email"))
			if d != nil && (d.Status == vibemon.DeliveryDelivered || d.Status == vibemon.DeliveryBatched) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %d: delivery %+v after 60 s, want delivered or batched", ev, d)
			}
			time.Sleep(20 * time.Millisecond) // polling the ledger
		}
	}
	e.mail.wait(t, 3)
	e.clock.Add(10 * time.Minute) // the window ends: the summary is due
	e.mail.wait(t, 4)
	msgs := e.mail.messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 3 and a summary", len(msgs))
	}
	if s := msgs[3].Header.Get("Subject"); !strings.Contains(s, "27 more alert notifications") {
		t.Errorf("summary subject = %q, want it to count the 27 held back", s)
	}
}

// An escalation of a critical alert reaches the step's user at once, even
// in their quiet hours, and nobody else; the opening of the same alert
// waits for the end of the quiet hours.
func TestNotifyCriticalEscalationBypassesQuietHours(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC), nil)
	oncall := e.addUser(t, "oncall@acme.example", vibemon.SeverityCritical)
	ctx := context.Background()
	for _, u := range []*vibemon.User{e.owner, oncall} {
		p, _ := e.store.GetNotificationPrefs(ctx, e.org.ID, u.ID)
		p.QuietStart, p.QuietEnd = "22:00", "07:00"
		must(t, e.store.PutNotificationPrefs(ctx, p))
	}
	rule := &vibemon.Rule{OrgID: e.org.ID, Name: "critical vibration", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 11, Severity: vibemon.SeverityCritical,
		Enabled: true, Escalation: []vibemon.EscalationStep{{AfterMinutes: 5, UserIDs: []int64{oncall.ID}}}}
	must(t, e.store.CreateRule(ctx, rule))
	a := &vibemon.Alert{OrgID: e.org.ID, RuleID: rule.ID, DeviceID: e.device.ID, Severity: vibemon.SeverityCritical, Metric: "vel_rms_x",
		Value: 14, Threshold: 11, Message: "Compressor 2 vibration 14 mm/s", UpdatedAt: e.clock.Now()}
	_, err := e.store.UpsertAlert(ctx, a)
	must(t, err)
	e.clock.Add(5 * time.Minute)
	esc := &vibemon.AlertEvent{OrgID: e.org.ID, AlertID: a.ID, Kind: vibemon.EventEscalated, Level: 1, At: e.clock.Now()}
	must(t, e.store.AddAlertEvent(ctx, esc))
	r := e.runner(t)
	_, err = r.DispatchNotifications(ctx)
	must(t, err)
	e.mail.wait(t, 1)
	e.waitDelivery(t, jobs.DeliveryKey(esc.ID, oncall.ID, 0, "email"), vibemon.DeliveryDelivered)
	msgs := e.mail.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Header.Get("To"), "oncall@") || !strings.Contains(msgs[0].Header.Get("Subject"), "escalated (level 1)") {
		t.Fatalf("messages during quiet hours = %d (first to %q, %q), want only the escalation to oncall", len(msgs), msgs[0].Header.Get("To"), msgs[0].Header.Get("Subject"))
	}
	if d := e.delivery(t, jobs.DeliveryKey(esc.ID, e.owner.ID, 0, "email")); d != nil {
		t.Errorf("the owner, not in the escalation step, has delivery %+v", d)
	}
}

// A webhook gets every event, signed with its secret, once; the receiver
// verifies the signature as docs/notifications.md tells it to.
func TestNotifyWebhookSigned(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), nil)
	type hit struct {
		event, id string
		err       error
	}
	hits := make(chan hit, 10)
	const secret = "webhook-secret-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := notify.VerifyWebhook(secret, r.Header.Get("X-VibeMon-Signature"), body, e.clock.Now(), 5*time.Minute)
		hits <- hit{r.Header.Get("X-VibeMon-Event"), r.Header.Get("Idempotency-Key"), err}
	}))
	t.Cleanup(srv.Close)
	e.cfg.Channels.Register(notify.ChannelWebhook, notify.NewWebhook(notify.WebhookConfig{Now: e.clock.Now}))
	ctx := context.Background()
	must(t, e.store.CreateWebhook(ctx, &vibemon.Webhook{OrgID: e.org.ID, Name: "cmms", URL: srv.URL, Secret: secret, Enabled: true}))
	r := e.runner(t)
	a := e.open(t, vibemon.SeverityWarning, "Fan 1 vibration 7.4 mm/s")
	_, err := e.store.AckAlert(ctx, e.org.ID, a.ID, e.owner.ID, "on it", e.clock.Now())
	must(t, err)
	_, err = r.DispatchNotifications(ctx)
	must(t, err)
	seen := map[string]string{}
	for len(seen) < 2 {
		select {
		case h := <-hits:
			if h.err != nil {
				t.Errorf("delivery %s: signature does not verify: %v", h.id, h.err)
			}
			seen[h.event] = h.id
		case <-time.After(60 * time.Second):
			t.Fatalf("webhook got %v after 60 s, want opened and acknowledged", seen)
		}
	}
	if seen["opened"] == "" || seen["acknowledged"] == "" || !strings.Contains(seen["opened"], "/webhook:") {
		t.Errorf("webhook events = %v, want opened and acknowledged with webhook keys", seen)
	}
	e.mail.wait(t, 1) // the owner hears of the opening, not of their own acknowledgement
}

// The daily digest goes out at the user's hour in their time zone, once a
// day, listing the open alerts.
func TestNotifyDailyDigest(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 6, 10, 0, 0, time.UTC), nil)
	ctx := context.Background()
	p, _ := e.store.GetNotificationPrefs(ctx, e.org.ID, e.owner.ID)
	p.Channels, p.Digest, p.DigestHour, p.TimeZone = []string{"email"}, true, 7, "Europe/Berlin" // 06:10 UTC is 07:10 in Berlin
	p.MinSeverity = vibemon.SeverityCritical                                                     // single messages for critical only
	must(t, e.store.PutNotificationPrefs(ctx, p))
	e.open(t, vibemon.SeverityCritical, "Pump 3 vibration 11.2 mm/s")
	e.open(t, vibemon.SeverityWarning, "Fan 1 vibration 7.4 mm/s") // below the filter: not in the digest either
	r := e.runner(t)
	n, err := r.QueueDigests(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("QueueDigests = %d, want 1", n)
	}
	if n, _ := r.QueueDigests(ctx); n != 0 {
		t.Errorf("QueueDigests again the same day = %d, want 0", n)
	}
	e.waitDelivery(t, "digest:user:"+fmt.Sprint(e.owner.ID)+"/2026-11-30/email", vibemon.DeliveryDelivered)
	e.mail.wait(t, 1)
	msgs := e.mail.messages()
	if s := msgs[0].Header.Get("Subject"); !strings.Contains(s, "daily digest 2026-11-30: 1 alerts, 1 open") {
		t.Errorf("digest subject = %q", s)
	}
}

// The digest names the machines that need attention, as the condition
// report judges them, also on a day without alerts: a user who wants
// critical news only hears of machines to act on, not of those to watch.
func TestNotifyDigestNamesMachinesNeedingAttention(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 7, 10, 0, 0, time.UTC)
	e := newNotifyEnv(t, now, nil)
	ctx := context.Background()
	// pump 3 (the env's machine) at 5 mm/s for the last two hours: ISO
	// 10816-3 zone D for group 2 on a rigid foundation; a fan in zone C.
	fan := &vibemon.Asset{OrgID: e.org.ID, Name: "fan 4", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must(t, e.store.CreateAsset(ctx, fan))
	fanNode := &vibemon.Device{OrgID: e.org.ID, AssetID: fan.ID, Serial: "node-fan"}
	_, err := e.store.RegisterDevice(ctx, fanNode)
	must(t, err)
	var rs []vibemon.Reading
	for i := range 12 {
		for _, d := range []struct {
			id int64
			v  float64
		}{{e.device.ID, 5}, {fanNode.ID, 3.2}} {
			r := vibemon.NewReading(d.id, int64(i+1), now.Add(-2*time.Hour+time.Duration(i)*10*time.Minute))
			r.Values[vibemon.VelRMSX] = d.v
			rs = append(rs, r)
		}
	}
	_, err = e.store.InsertReadings(ctx, e.org.ID, rs)
	must(t, err)
	critical := e.addUser(t, "manager@acme.example", vibemon.SeverityCritical)
	for _, u := range []*vibemon.User{e.owner, critical} {
		p, _ := e.store.GetNotificationPrefs(ctx, e.org.ID, u.ID)
		p.Channels, p.Digest, p.DigestHour, p.TimeZone = []string{"email"}, true, 7, "UTC"
		must(t, e.store.PutNotificationPrefs(ctx, p))
	}
	r := e.runner(t)
	if n, err := r.QueueDigests(ctx); err != nil || n != 2 {
		t.Fatalf("QueueDigests = %d, %v; want 2", n, err)
	}
	e.mail.wait(t, 2)
	var owner, manager string // subject and body
	for _, m := range e.mail.messages() {
		body, _ := io.ReadAll(m.Body)
		text := m.Header.Get("Subject") + "\n" + string(body)
		switch to := m.Header.Get("To"); {
		case strings.Contains(to, e.owner.Email):
			owner = text
		case strings.Contains(to, critical.Email):
			manager = text
		}
	}
	for _, want := range []string{"daily digest 2026-11-30: 0 alerts, 0 open, 1 machines to act on, 1 to watch", "Machines needing attention",
		"pump 3: act now: ISO 10816-3 zone D now (5.00 mm/s)", "fan 4: watch: ISO 10816-3 zone C now (3.20 mm/s)", "/reports"} {
		if !strings.Contains(owner, want) {
			t.Errorf("the owner's digest does not say %q:\n%s", want, owner)
		}
	}
	if !strings.Contains(manager, "pump 3: act now") || strings.Contains(manager, "fan 4") || !strings.Contains(manager, "1 machines to act on") || strings.Contains(manager, "to watch") {
		t.Errorf("the critical-only digest should name pump 3 and not fan 4:\n%s", manager)
	}
}

// A channel that answers 429 with Retry-After is tried again no sooner
// than it asked, and then once.
func TestNotifyHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), nil)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	e.cfg.Channels.Register(notify.ChannelWebhook, notify.NewWebhook(notify.WebhookConfig{Now: e.clock.Now}))
	ctx := context.Background()
	hook := &vibemon.Webhook{OrgID: e.org.ID, Name: "cmms", URL: srv.URL, Secret: "webhook-secret-0123456789", Enabled: true, MinSeverity: vibemon.SeverityCritical}
	must(t, e.store.CreateWebhook(ctx, hook))
	r := e.runner(t)
	start := e.clock.Now()
	e.open(t, vibemon.SeverityCritical, "Pump 3 vibration 11.2 mm/s")
	_, err := r.DispatchNotifications(ctx)
	must(t, err)
	key := jobs.DeliveryKey(lastEventID(t, e.store), 0, hook.ID, "webhook")
	deadline := time.Now().Add(60 * time.Second)
	for {
		states, err := r.JobStates(ctx, "notify_delivery")
		must(t, err)
		if slices.Contains(states, "retryable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery job states = %v after 60 s, want the webhook's retryable", states)
		}
		time.Sleep(20 * time.Millisecond) // polling River's table: no event crosses into the test
	}
	due, err := r.JobScheduledAt(ctx, "notify_delivery")
	must(t, err)
	// The owner's e-mail went out; the webhook's retry is the latest job.
	if last := slices.MaxFunc(due, func(a, b time.Time) int { return a.Compare(b) }); last.Before(start.Add(600 * time.Second)) {
		t.Fatalf("retry due at %v, want 600 s after %v or later", last, start)
	}
	e.clock.Add(601 * time.Second)
	e.waitDelivery(t, key, vibemon.DeliveryDelivered)
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("webhook called %d times, want 2", calls)
	}
}

// A delivery whose every attempt fails for a passing reason (the SMTP
// server keeps answering 451) ends as "failed" in the ledger, with the
// reason and the number of attempts, once River gives up: not "sending"
// for ever.
func TestNotifyLedgerSaysFailedWhenRiverGivesUp(t *testing.T) {
	t.Parallel()
	busy := func(int) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	e := newNotifyEnv(t, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), busy)
	e.cfg.MaxAttempts = 2
	r := e.runner(t)
	e.open(t, vibemon.SeverityCritical, "Fan 2 vibration 9.4 mm/s")
	_, err := r.DispatchNotifications(context.Background())
	must(t, err)
	key := jobs.DeliveryKey(lastEventID(t, e.store), e.owner.ID, 0, "email")
	e.waitDelivery(t, key, vibemon.DeliverySending)
	// River's backoff after the first attempt is seconds; its clock is the
	// test's.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d := e.delivery(t, key); d != nil && d.Status == vibemon.DeliveryFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s = %+v after 60 s, want failed", key, e.delivery(t, key))
		}
		e.clock.Add(time.Minute)
	}
	d := e.delivery(t, key)
	if d.Attempts != 2 || !strings.Contains(d.Error, "gave up after 2 attempts") || !strings.Contains(d.Error, "451") {
		t.Errorf("ledger = %+v, want 2 attempts and an error naming them and the server's 451", d)
	}
}
