package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/notify"
	"github.com/vibemon/vibemon/report"
)

type deliveryWorker struct {
	river.WorkerDefaults[NotifyDelivery]
	r *Runner
	// retryAfter holds, by job id, the wait a channel asked for on the
	// attempt that just failed; NextRetry reads it right after Work.
	retryAfter sync.Map
}

// Timeout bounds one attempt; senders have their own shorter timeouts.
func (w *deliveryWorker) Timeout(*river.Job[NotifyDelivery]) time.Duration { return sendTimeout }

// NextRetry honours a channel's Retry-After when it is later than River's
// backoff would retry.
func (w *deliveryWorker) NextRetry(job *river.Job[NotifyDelivery]) time.Time {
	v, ok := w.retryAfter.LoadAndDelete(job.ID)
	if !ok {
		return time.Time{}
	}
	return w.r.cfg.Now().Add(v.(time.Duration))
}

// Work delivers one notification unless the ledger says it is done:
// preferences and addresses are read now, not at dispatch, so a user who
// switched a channel off since gets nothing more on it.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[NotifyDelivery]) error {
	r, a := w.r, job.Args
	st, now := r.cfg.Store, r.cfg.Now()
	alert, err := st.GetAlert(ctx, a.OrgID, a.AlertID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	var to []notify.Recipient
	limit := r.notify.RateLimit
	if a.WebhookID != 0 {
		h, err := st.GetWebhook(ctx, a.OrgID, a.WebhookID)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return river.JobCancel(err)
		} else if err != nil {
			return err
		}
		if !h.Enabled {
			return river.JobCancel(errors.New("the webhook was disabled"))
		}
		to = []notify.Recipient{{Address: h.URL, Secret: h.Secret}}
		limit = 0 // systems take every event
	} else {
		p, err := st.GetNotificationPrefs(ctx, a.OrgID, a.UserID)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return river.JobCancel(err)
		} else if err != nil {
			return err
		}
		if !p.Enabled(a.Channel) {
			return river.JobCancel(fmt.Errorf("the user switched %s off", a.Channel))
		}
		if until, quiet := p.QuietUntil(now); quiet && !bypassesQuiet(a.Event, alert) {
			r.log.Debug("notification waits for the end of quiet hours", "key", a.Key, "until", until)
			return river.JobSnooze(until.Sub(now))
		}
		if to, err = r.userRecipients(ctx, p, a.Channel); err != nil {
			return err
		}
		if len(to) == 0 {
			return river.JobCancel(fmt.Errorf("the user has no %s address", a.Channel))
		}
	}
	if limit < 0 {
		limit = 0
	}
	d, err := st.ClaimDelivery(ctx, &vibemon.Delivery{
		Key: a.Key, OrgID: a.OrgID, EventID: a.EventID, AlertID: a.AlertID, UserID: a.UserID,
		WebhookID: a.WebhookID, Channel: a.Channel,
	}, limit, now.Add(-r.notify.RateWindow))
	if err != nil {
		return err
	}
	switch {
	case d.Status.Final():
		return nil // delivered (or failed for good) before a crash or retry
	case d.Status == vibemon.DeliveryBatched:
		return r.queueSummary(ctx, a.OrgID, a.UserID, a.Channel, now)
	}
	err = r.sendAll(ctx, a.OrgID, a.UserID, a.Channel, to, r.render(alert, a.Event, a.Level), a.Key)
	logDelivery(r.log, a.Key, err)
	return w.finish(ctx, job.JobRow, a.Key, err)
}

// lastAttempt reports whether River will not try job again after this
// attempt fails.
func lastAttempt(job *rivertype.JobRow) bool { return job.Attempt >= job.MaxAttempts }

// gaveUp is the ledger's error text of a delivery whose last attempt failed.
func gaveUp(job *rivertype.JobRow, err error) string {
	return clip(fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err), 1000)
}

// finish records the outcome of a send and tells River what to do.
func (w *deliveryWorker) finish(ctx context.Context, job *rivertype.JobRow, key string, err error) error {
	st := w.r.cfg.Store
	switch {
	case err == nil:
		// The message is out: a failure to record it is retried, and the
		// retry resends it (at least once, never lost).
		return st.FinishDelivery(ctx, key, vibemon.DeliveryDelivered, "")
	case notify.IsPermanent(err):
		if ferr := st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, clip(err.Error(), 1000)); ferr != nil {
			return ferr
		}
		return river.JobCancel(err)
	case lastAttempt(job):
		// River discards the job after this: the ledger says so instead of
		// "sending" for ever.
		if ferr := st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, gaveUp(job, err)); ferr != nil {
			return ferr
		}
		return err
	default:
		if ra := notify.RetryAfter(err); ra > 0 {
			w.retryAfter.Store(job.ID, ra)
		}
		return err
	}
}

// userRecipients returns the user's addresses on channel.
func (r *Runner) userRecipients(ctx context.Context, p *vibemon.NotificationPrefs, channel string) ([]notify.Recipient, error) {
	st := r.cfg.Store
	switch channel {
	case vibemon.ChannelEmail:
		u, err := st.GetUser(ctx, p.OrgID, p.UserID)
		if err != nil {
			return nil, err
		}
		addr := p.Email
		if addr == "" {
			addr = u.Email
		}
		return []notify.Recipient{{Address: addr, Name: u.Name}}, nil
	case vibemon.ChannelTelegram:
		if p.TelegramChatID == "" {
			return nil, nil
		}
		return []notify.Recipient{{Address: p.TelegramChatID}}, nil
	case vibemon.ChannelPush:
		toks, err := st.ListPushTokens(ctx, p.OrgID, p.UserID)
		if err != nil {
			return nil, err
		}
		out := make([]notify.Recipient, len(toks))
		for i, t := range toks {
			out[i] = notify.Recipient{Address: t.Token}
		}
		return out, nil
	}
	return nil, nil
}

// sendAll sends m to every address (several push tokens). A temporary
// failure of any address retries the delivery (FCM collapses the copies an
// earlier attempt delivered); it succeeds when one address took it. A
// push token that is gone for good is dropped.
func (r *Runner) sendAll(ctx context.Context, orgID, userID int64, channel string, to []notify.Recipient, m notify.Message, key string) error {
	var temp, perm error
	ok := false
	for _, rc := range to {
		err := r.notify.Channels.Send(ctx, channel, rc, m, key)
		switch {
		case err == nil:
			ok = true
		case notify.IsPermanent(err):
			perm = err
			var de *notify.DeliveryError
			switch {
			case channel == vibemon.ChannelPush:
				if derr := r.cfg.Store.DeletePushToken(ctx, orgID, userID, rc.Address); derr != nil {
					r.log.Warn("drop a rejected push token", "user", userID, "err", derr)
				}
			case channel == vibemon.ChannelTelegram && errors.As(err, &de) && de.Status == 403:
				// The user blocked the bot: stop writing to the chat.
				if derr := r.cfg.Store.UnlinkTelegram(ctx, orgID, userID); derr != nil {
					r.log.Warn("unlink a blocked Telegram chat", "user", userID, "err", derr)
				}
			}
		default:
			temp = err
		}
	}
	switch {
	case temp != nil:
		return temp
	case ok:
		return nil
	}
	return perm
}

// queueSummary schedules the summary of the recipient's current rate
// window at its end.
func (r *Runner) queueSummary(ctx context.Context, orgID, userID int64, channel string, now time.Time) error {
	start := now.Truncate(r.notify.RateWindow)
	_, err := r.client.Insert(ctx, NotifySummary{OrgID: orgID, UserID: userID, Channel: channel, Bucket: start.Unix()},
		&river.InsertOpts{ScheduledAt: start.Add(r.notify.RateWindow), MaxAttempts: r.notify.MaxAttempts})
	if err != nil {
		return fmt.Errorf("queue notification summary: %w", err)
	}
	return nil
}

type summaryWorker struct {
	river.WorkerDefaults[NotifySummary]
	r *Runner
}

// Timeout bounds one attempt.
func (w *summaryWorker) Timeout(*river.Job[NotifySummary]) time.Duration { return sendTimeout }

// Work sends one message listing the recipient's batched notifications.
func (w *summaryWorker) Work(ctx context.Context, job *river.Job[NotifySummary]) error {
	r, a := w.r, job.Args
	st, now := r.cfg.Store, r.cfg.Now()
	p, err := st.GetNotificationPrefs(ctx, a.OrgID, a.UserID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	if until, quiet := p.QuietUntil(now); quiet {
		return river.JobSnooze(until.Sub(now))
	}
	batched, err := st.ListBatchedDeliveries(ctx, a.OrgID, a.UserID, a.Channel)
	if err != nil || len(batched) == 0 {
		return err
	}
	to, err := r.userRecipients(ctx, p, a.Channel)
	if err != nil {
		return err
	}
	keys := make([]string, len(batched))
	for i, d := range batched {
		keys[i] = d.Key
	}
	if len(to) == 0 {
		return st.MarkSummarized(ctx, keys) // no address left: nothing to send
	}
	key := fmt.Sprintf("summary:user:%d/%s/%d", a.UserID, a.Channel, a.Bucket)
	d, err := st.ClaimDelivery(ctx, &vibemon.Delivery{Key: key, OrgID: a.OrgID, UserID: a.UserID, Channel: a.Channel}, 0, now)
	if err != nil {
		return err
	}
	if !d.Status.Final() {
		m := r.summarize(ctx, a.OrgID, batched)
		err := r.sendAll(ctx, a.OrgID, a.UserID, a.Channel, to, m, key)
		logDelivery(r.log, key, err)
		switch {
		case err == nil:
			if err := st.FinishDelivery(ctx, key, vibemon.DeliveryDelivered, ""); err != nil {
				return err
			}
		case notify.IsPermanent(err):
			_ = st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, clip(err.Error(), 1000))
			_ = st.MarkSummarized(ctx, keys)
			return river.JobCancel(err)
		case lastAttempt(job.JobRow):
			_ = st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, gaveUp(job.JobRow, err))
			_ = st.MarkSummarized(ctx, keys)
			return err
		default:
			return err
		}
	}
	return st.MarkSummarized(ctx, keys)
}

// summarize renders one message for several alert events, most severe
// first in the title, one line per alert in the text.
func (r *Runner) summarize(ctx context.Context, orgID int64, ds []*vibemon.Delivery) notify.Message {
	seen := map[int64]bool{}
	var lines []string
	worst := vibemon.SeverityInfo
	for _, d := range ds {
		if seen[d.AlertID] {
			continue
		}
		seen[d.AlertID] = true
		a, err := r.cfg.Store.GetAlert(ctx, orgID, d.AlertID)
		if err != nil {
			continue
		}
		if rank(a.Severity) > rank(worst) {
			worst = a.Severity
		}
		lines = append(lines, r.alertLine(a))
	}
	title := fmt.Sprintf("%d more alert notifications (%d alerts)", len(ds), len(seen))
	text := "Too many notifications arrived at once; these were held back and summarized:\n\n" + strings.Join(lines, "\n")
	link := ""
	if r.notify.PublicURL != "" {
		link = r.notify.PublicURL + "/alerts"
	}
	return notify.Message{Title: title, Text: clip(text, 30000), Link: link, Severity: worst, Event: notify.EventDigest}
}

// alertLine is an alert's line in a summary or digest: severity, status,
// the message's first line and the link to its page.
func (r *Runner) alertLine(a *vibemon.Alert) string {
	line := fmt.Sprintf("- [%s, %s] %s", a.Severity, a.Status, firstLine(a.Message))
	if l := r.alertLink(a.ID); l != "" {
		line += " " + l
	}
	return line
}

func rank(s vibemon.Severity) int {
	switch s {
	case vibemon.SeverityCritical:
		return 3
	case vibemon.SeverityWarning:
		return 2
	}
	return 1
}

type digestTickWorker struct {
	river.WorkerDefaults[NotifyDigestTick]
	r *Runner
}

// Work queues the digests due this hour.
func (w *digestTickWorker) Work(ctx context.Context, _ *river.Job[NotifyDigestTick]) error {
	_, err := w.r.QueueDigests(ctx)
	return err
}

// QueueDigests inserts a NotifyDigest job for every user whose digest hour
// is now in their time zone (once per user and day); what the hourly
// NotifyDigestTick runs. It returns how many it inserted.
func (r *Runner) QueueDigests(ctx context.Context) (int, error) {
	if r.cfg.Orgs == nil || r.notify == nil {
		return 0, nil
	}
	orgs, err := r.cfg.Orgs.OrgIDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue digests: %w", err)
	}
	now, n := r.cfg.Now(), 0
	for _, org := range orgs {
		prefs, err := r.cfg.Store.ListNotificationPrefs(ctx, org)
		if err != nil {
			return n, fmt.Errorf("queue digests: %w", err)
		}
		for _, p := range prefs {
			day, due := p.DigestDay(now)
			if !due {
				continue
			}
			res, err := r.client.Insert(ctx, NotifyDigest{OrgID: org, UserID: p.UserID, Day: day}, &river.InsertOpts{MaxAttempts: r.notify.MaxAttempts})
			if err != nil {
				return n, fmt.Errorf("queue digests: %w", err)
			}
			if !res.UniqueSkippedAsDuplicate {
				n++
			}
		}
	}
	return n, nil
}

type digestWorker struct {
	river.WorkerDefaults[NotifyDigest]
	r *Runner
}

// Timeout bounds one attempt.
func (w *digestWorker) Timeout(*river.Job[NotifyDigest]) time.Duration { return sendTimeout }

// Work sends the user's daily digest on each enabled channel: the alerts
// of the last 24 hours and every one still open, after the user's severity
// and asset filters. Nothing is sent when there is nothing to tell.
func (w *digestWorker) Work(ctx context.Context, job *river.Job[NotifyDigest]) error {
	r, a := w.r, job.Args
	st, now := r.cfg.Store, r.cfg.Now()
	p, err := st.GetNotificationPrefs(ctx, a.OrgID, a.UserID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	alerts, err := st.ListAlerts(ctx, a.OrgID, vibemon.AlertFilter{Limit: 1000})
	if err != nil {
		return err
	}
	var lines []string
	open := 0
	for _, al := range alerts {
		recent := al.OpenedAt.After(now.Add(-24 * time.Hour))
		if !p.Wants(al.Severity, al.AssetID) || (!recent && al.Status == vibemon.AlertResolved) {
			continue
		}
		if al.Status != vibemon.AlertResolved {
			open++
		}
		lines = append(lines, r.alertLine(al))
	}
	machines, act, watch, err := r.attention(ctx, a.OrgID, p, now)
	if err != nil {
		return err
	}
	if len(lines) == 0 && len(machines) == 0 {
		return nil
	}
	title := fmt.Sprintf("VibeMon daily digest %s: %d alerts, %d open", a.Day, len(lines), open)
	if act > 0 {
		title += fmt.Sprintf(", %d machines to act on", act)
	}
	if watch > 0 {
		title += fmt.Sprintf(", %d to watch", watch)
	}
	var text []string
	if len(lines) > 0 {
		text = append(text, "Alerts of the last 24 hours and those still open:\n\n"+strings.Join(lines, "\n"))
	}
	if len(machines) > 0 {
		text = append(text, "Machines needing attention (the condition report):\n\n"+strings.Join(machines, "\n"))
	}
	m := notify.Message{Title: title, Text: clip(strings.Join(text, "\n\n"), 30000), Event: notify.EventDigest}
	if r.notify.PublicURL != "" {
		m.Link = r.notify.PublicURL + "/alerts"
		if len(lines) == 0 {
			m.Link = r.notify.PublicURL + "/reports"
		}
	}
	var firstErr error
	for _, ch := range p.Channels {
		if _, err := r.notify.Channels.Get(ch); err != nil {
			continue
		}
		to, err := r.userRecipients(ctx, p, ch)
		if err != nil || len(to) == 0 {
			continue
		}
		key := fmt.Sprintf("digest:user:%d/%s/%s", a.UserID, a.Day, ch)
		d, err := st.ClaimDelivery(ctx, &vibemon.Delivery{Key: key, OrgID: a.OrgID, UserID: a.UserID, Channel: ch}, 0, now)
		if err != nil {
			return err
		}
		if d.Status.Final() {
			continue
		}
		err = r.sendAll(ctx, a.OrgID, a.UserID, ch, to, m, key)
		logDelivery(r.log, key, err)
		switch {
		case err == nil:
			err = st.FinishDelivery(ctx, key, vibemon.DeliveryDelivered, "")
		case notify.IsPermanent(err):
			err = st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, clip(err.Error(), 1000))
		case lastAttempt(job.JobRow):
			if ferr := st.FinishDelivery(ctx, key, vibemon.DeliveryFailed, gaveUp(job.JobRow, err)); ferr != nil {
				err = ferr
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// attention returns the lines of the org's machines to act on or watch
// (the condition report of the last 24 hours) that the user's filters
// keep: "act now" counts as critical, "watch" as a warning.
func (r *Runner) attention(ctx context.Context, orgID int64, p *vibemon.NotificationPrefs, now time.Time) (lines []string, act, watch int, err error) {
	b := report.Builder{Store: r.cfg.Store, Analysis: r.svc, Now: func() time.Time { return now }}
	rep, err := b.Build(ctx, orgID, now.Add(-24*time.Hour), now)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("digest: %w", err)
	}
	for _, m := range rep.Machines {
		sev, word := vibemon.SeverityWarning, "watch"
		switch {
		case m.Condition == report.ConditionAct:
			sev, word = vibemon.SeverityCritical, "act now"
		case m.Condition != report.ConditionWatch:
			continue
		}
		if !p.Wants(sev, m.AssetID) {
			continue
		}
		if sev == vibemon.SeverityCritical {
			act++
		} else {
			watch++
		}
		lines = append(lines, fmt.Sprintf("- %s: %s: %s", m.Name, word, strings.Join(m.Reasons, "; ")))
	}
	return lines, act, watch, nil
}
