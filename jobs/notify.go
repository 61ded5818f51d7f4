package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/notify"
)

// NotifyConfig configures alert notifications (Config.Notify). The zero
// value of each optional field means the documented default.
type NotifyConfig struct {
	// Channels are the configured senders ("email", "telegram", "push",
	// "webhook"); a user channel without a sender is skipped. Required.
	Channels *notify.Channels
	// PublicURL starts the link of every message: PublicURL/alerts/{id}.
	// Empty means messages carry no link.
	PublicURL string
	// PollInterval is how often the dispatcher reads new alert events.
	// Defaults to 5 s.
	PollInterval time.Duration
	// RateLimit is how many messages one recipient gets on one channel
	// within RateWindow before the rest wait for one summary message at the
	// end of the window. Defaults to 5; negative means no limit.
	RateLimit int
	// RateWindow defaults to 10 minutes.
	RateWindow time.Duration
	// MaxAttempts is how often a delivery is tried. Defaults to 10 (about
	// 4 hours of River's backoff).
	MaxAttempts int
}

// Notification job kinds.
const (
	cursorAlerts   = "alert_events"
	dispatchBatch  = 200
	sendTimeout    = time.Minute
	digestInterval = time.Hour
)

// NotifyDispatch is the periodic job that turns new alert events into
// NotifyDelivery jobs.
type NotifyDispatch struct{}

// Kind names the job in River's tables.
func (NotifyDispatch) Kind() string { return "notify_dispatch" }

// InsertOpts keeps one dispatch queued or running at a time.
func (NotifyDispatch) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// activeStates are the states in which a second copy of a job is not
// inserted; a completed job does not block the next one.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// NotifyDelivery is one notification: one alert event to one recipient (a
// user on one channel, or a webhook). Key is its idempotency key.
type NotifyDelivery struct {
	Key       string `json:"key"`
	OrgID     int64  `json:"org_id"`
	EventID   int64  `json:"event_id"`
	AlertID   int64  `json:"alert_id"`
	Event     string `json:"event"` // the alert event kind
	Level     int    `json:"level,omitempty"`
	UserID    int64  `json:"user_id,omitempty"`
	WebhookID int64  `json:"webhook_id,omitempty"`
	Channel   string `json:"channel"`
}

// Kind names the job in River's tables.
func (NotifyDelivery) Kind() string { return "notify_delivery" }

// InsertOpts makes a delivery unique by its arguments (its key), for as
// long as River keeps the job; the ledger covers the time after.
func (NotifyDelivery) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NotifySummary sends one message for the deliveries that a recipient's
// rate limit batched in the window starting at Bucket (unix seconds).
type NotifySummary struct {
	OrgID   int64  `json:"org_id"`
	UserID  int64  `json:"user_id"`
	Channel string `json:"channel"`
	Bucket  int64  `json:"bucket"`
}

// Kind names the job in River's tables.
func (NotifySummary) Kind() string { return "notify_summary" }

// InsertOpts makes one summary per recipient and window.
func (NotifySummary) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NotifyDigestTick is the hourly job that queues the daily digests due in
// that hour.
type NotifyDigestTick struct{}

// Kind names the job in River's tables.
func (NotifyDigestTick) Kind() string { return "notify_digest_tick" }

// InsertOpts keeps one tick queued or running at a time.
func (NotifyDigestTick) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// NotifyDigest is one user's daily digest for Day (their local date).
type NotifyDigest struct {
	OrgID  int64  `json:"org_id"`
	UserID int64  `json:"user_id"`
	Day    string `json:"day"`
}

// Kind names the job in River's tables.
func (NotifyDigest) Kind() string { return "notify_digest" }

// InsertOpts makes one digest per user and day.
func (NotifyDigest) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DeliveryKey is the idempotency key of an alert event to a user on a
// channel: "event:<id>/user:<id>/<channel>" (webhooks:
// "event:<id>/webhook:<id>/webhook").
func DeliveryKey(eventID, userID, webhookID int64, channel string) string {
	if webhookID != 0 {
		return fmt.Sprintf("event:%d/webhook:%d/%s", eventID, webhookID, channel)
	}
	return fmt.Sprintf("event:%d/user:%d/%s", eventID, userID, channel)
}

func (r *Runner) notifyDefaults() *NotifyConfig {
	n := *r.cfg.Notify
	if n.Channels == nil {
		n.Channels = &notify.Channels{}
	}
	if n.PollInterval <= 0 {
		n.PollInterval = 5 * time.Second
	}
	if n.RateLimit == 0 {
		n.RateLimit = 5
	}
	if n.RateWindow <= 0 {
		n.RateWindow = 10 * time.Minute
	}
	if n.MaxAttempts <= 0 {
		n.MaxAttempts = 10
	}
	n.PublicURL = strings.TrimRight(n.PublicURL, "/")
	return &n
}

// addNotifyJobs registers the notification workers and periodic jobs.
func (r *Runner) addNotifyJobs(workers *river.Workers, rc *river.Config) {
	n := r.notifyDefaults()
	r.notify = n
	river.AddWorker(workers, &dispatchWorker{r: r})
	river.AddWorker(workers, &deliveryWorker{r: r})
	river.AddWorker(workers, &summaryWorker{r: r})
	river.AddWorker(workers, &digestTickWorker{r: r})
	river.AddWorker(workers, &digestWorker{r: r})
	rc.PeriodicJobs = append(rc.PeriodicJobs,
		river.NewPeriodicJob(river.PeriodicInterval(n.PollInterval),
			func() (river.JobArgs, *river.InsertOpts) { return NotifyDispatch{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(digestInterval),
			func() (river.JobArgs, *river.InsertOpts) { return NotifyDigestTick{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	)
}

// riverClock adapts a clock to River's time generator.
type riverClock func() time.Time

func (c riverClock) Now() time.Time { return c() }
func (c riverClock) NowOrNil() *time.Time {
	t := c()
	return &t
}

type dispatchWorker struct {
	river.WorkerDefaults[NotifyDispatch]
	r *Runner
}

// Work dispatches the new alert events.
func (w *dispatchWorker) Work(ctx context.Context, _ *river.Job[NotifyDispatch]) error {
	_, err := w.r.DispatchNotifications(ctx)
	return err
}

// DispatchNotifications reads the alert events after the dispatcher's
// cursor and inserts one NotifyDelivery job per (event, recipient,
// channel). The cursor moves only after River has committed the inserts,
// so a crash in between inserts the same jobs again, which their unique
// keys (and the delivery ledger) turn into nothing. It returns how many
// jobs it inserted; what the periodic NotifyDispatch job runs.
func (r *Runner) DispatchNotifications(ctx context.Context) (int, error) {
	if r.notify == nil {
		return 0, errors.New("dispatch notifications: Config.Notify is nil")
	}
	total := 0
	for {
		cur, err := r.cfg.Store.NotifyCursor(ctx, cursorAlerts)
		if err != nil {
			return total, fmt.Errorf("dispatch notifications: %w", err)
		}
		events, err := r.cfg.Store.AlertEventsAfter(ctx, cur, dispatchBatch)
		if err != nil {
			return total, fmt.Errorf("dispatch notifications: %w", err)
		}
		if len(events) == 0 {
			return total, nil
		}
		var params []river.InsertManyParams
		for _, e := range events {
			ds, err := r.recipients(ctx, e)
			if err != nil {
				return total, fmt.Errorf("dispatch notifications: event %d: %w", e.ID, err)
			}
			for _, d := range ds {
				params = append(params, river.InsertManyParams{Args: d, InsertOpts: &river.InsertOpts{MaxAttempts: r.notify.MaxAttempts}})
			}
		}
		if len(params) > 0 {
			res, err := r.client.InsertMany(ctx, params)
			if err != nil {
				return total, fmt.Errorf("dispatch notifications: insert: %w", err)
			}
			for _, x := range res {
				if !x.UniqueSkippedAsDuplicate {
					total++
				}
			}
		}
		last := events[len(events)-1].ID
		if err := r.cfg.Store.AdvanceNotifyCursor(ctx, cursorAlerts, cur, last); vibemon.ErrorCode(err) == vibemon.ECONFLICT {
			return total, nil // another dispatcher moved it; its jobs are the same
		} else if err != nil {
			return total, fmt.Errorf("dispatch notifications: %w", err)
		}
		r.log.Debug("dispatched alert events", "from", cur, "to", last, "jobs", len(params))
	}
}

// userEvents are the alert events that users hear of (assigned: only the
// assignee; escalated: only the step's users). Webhooks hear of every kind
// but comments.
func notifyKind(k vibemon.AlertEventKind) (notify.EventKind, bool) {
	switch k {
	case vibemon.EventOpened:
		return notify.EventOpened, true
	case vibemon.EventReminded:
		return notify.EventReminder, true
	case vibemon.EventEscalated:
		return notify.EventEscalated, true
	case vibemon.EventResolved:
		return notify.EventResolved, true
	case vibemon.EventAcknowledged:
		return notify.EventAcknowledged, true
	case vibemon.EventAssigned:
		return notify.EventAssigned, true
	}
	return "", false
}

// recipients returns the deliveries of one event.
func (r *Runner) recipients(ctx context.Context, e *vibemon.AlertEvent) ([]NotifyDelivery, error) {
	if _, ok := notifyKind(e.Kind); !ok {
		return nil, nil
	}
	st := r.cfg.Store
	a, err := st.GetAlert(ctx, e.OrgID, e.AlertID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []NotifyDelivery
	add := func(userID, webhookID int64, channel string) {
		out = append(out, NotifyDelivery{
			Key: DeliveryKey(e.ID, userID, webhookID, channel), OrgID: e.OrgID, EventID: e.ID, AlertID: e.AlertID,
			Event: string(e.Kind), Level: e.Level, UserID: userID, WebhookID: webhookID, Channel: channel,
		})
	}
	addUser := func(p *vibemon.NotificationPrefs) error {
		for _, ch := range p.Channels {
			if _, err := r.notify.Channels.Get(ch); err != nil {
				continue // not configured on this server
			}
			switch ch {
			case vibemon.ChannelTelegram:
				if p.TelegramChatID == "" {
					continue
				}
			case vibemon.ChannelPush:
				toks, err := st.ListPushTokens(ctx, p.OrgID, p.UserID)
				if err != nil {
					return err
				}
				if len(toks) == 0 {
					continue
				}
			}
			add(p.UserID, 0, ch)
		}
		return nil
	}
	// Named users (escalation step, assignee) get it whatever their
	// severity and asset filters: they were chosen for this alert.
	var named []int64
	switch e.Kind {
	case vibemon.EventEscalated:
		rule, err := st.GetRule(ctx, e.OrgID, a.RuleID)
		if err != nil && vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
			return nil, err
		}
		if rule != nil && e.Level >= 1 && e.Level <= len(rule.Escalation) {
			named = rule.Escalation[e.Level-1].UserIDs
		}
	case vibemon.EventAssigned:
		if e.AssigneeID != 0 && e.AssigneeID != e.UserID {
			named = []int64{e.AssigneeID}
		}
	case vibemon.EventOpened, vibemon.EventReminded, vibemon.EventResolved:
		prefs, err := st.ListNotificationPrefs(ctx, e.OrgID)
		if err != nil {
			return nil, err
		}
		for _, p := range prefs {
			if p.Wants(a.Severity, a.AssetID) {
				if err := addUser(p); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, uid := range named {
		p, err := st.GetNotificationPrefs(ctx, e.OrgID, uid)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			continue // the user was deleted
		} else if err != nil {
			return nil, err
		}
		if err := addUser(p); err != nil {
			return nil, err
		}
	}
	if _, err := r.notify.Channels.Get(notify.ChannelWebhook); err == nil {
		hooks, err := st.ListWebhooks(ctx, e.OrgID)
		if err != nil {
			return nil, err
		}
		for _, h := range hooks {
			if h.Wants(a.Severity) {
				add(0, h.ID, notify.ChannelWebhook)
			}
		}
	}
	return out, nil
}

// bypassesQuiet reports whether a delivery goes out during quiet hours:
// only escalations of critical alerts do.
func bypassesQuiet(event string, a *vibemon.Alert) bool {
	return event == string(vibemon.EventEscalated) && a.Severity == vibemon.SeverityCritical
}

// render builds the message of one alert event.
func (r *Runner) render(a *vibemon.Alert, event string, level int) notify.Message {
	kind, _ := notifyKind(vibemon.AlertEventKind(event))
	sev := strings.ToUpper(string(a.Severity))
	summary := firstLine(a.Message)
	var title string
	switch kind {
	case notify.EventOpened:
		title = fmt.Sprintf("%s: %s", sev, summary)
	case notify.EventEscalated:
		title = fmt.Sprintf("%s, escalated (level %d): %s", sev, level, summary)
	case notify.EventReminder:
		title = fmt.Sprintf("%s, still open: %s", sev, summary)
	case notify.EventResolved:
		title = "Resolved: " + summary
	case notify.EventAcknowledged:
		title = "Acknowledged: " + summary
	case notify.EventAssigned:
		title = "Assigned: " + summary
	}
	var b strings.Builder
	b.WriteString(a.Message)
	if a.Metric != "" {
		fmt.Fprintf(&b, "\n\n%s = %.3g (peak %.3g, threshold %.3g)", a.Metric, a.Value, a.Peak, a.Threshold)
	}
	fmt.Fprintf(&b, "\nAlert %d, %s, opened %s.", a.ID, a.Status, a.OpenedAt.UTC().Format("2006-01-02 15:04 MST"))
	return notify.Message{Title: clip(title, 200), Text: b.String(), Link: r.alertLink(a.ID), Severity: a.Severity, AlertID: a.ID, Event: kind}
}

func (r *Runner) alertLink(id int64) string {
	if r.notify.PublicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/alerts/%d", r.notify.PublicURL, id)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		s = "alert"
	}
	return clip(s, 160)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// logDelivery logs the outcome of a send at the right level.
func logDelivery(log *slog.Logger, key string, err error) {
	switch {
	case err == nil:
		log.Debug("notification delivered", "key", key)
	case notify.IsPermanent(err):
		log.Warn("notification failed for good", "key", key, "err", err)
	default:
		log.Info("notification failed; River retries it", "key", key, "err", err)
	}
}
