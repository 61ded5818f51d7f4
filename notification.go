package vibemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Notification channels a user can enable. Webhooks are per org, not per
// user, and are kept as Webhook rows.
const (
	ChannelEmail    = "email"
	ChannelTelegram = "telegram"
	ChannelPush     = "push"
	ChannelWebhook  = "webhook"
)

// UserChannels are the channels of NotificationPrefs.Channels.
var UserChannels = []string{ChannelEmail, ChannelTelegram, ChannelPush}

// NotificationPrefs are one user's notification preferences and channel
// addresses. A user who never saved any gets DefaultNotificationPrefs.
type NotificationPrefs struct {
	OrgID  int64 `json:"org_id"`
	UserID int64 `json:"user_id"`
	// Channels are the enabled channels ("email", "telegram", "push").
	Channels []string `json:"channels"`
	// MinSeverity is the least severe alert that is notified.
	MinSeverity Severity `json:"min_severity"`
	// AssetIDs limits notifications to these assets; empty means all.
	AssetIDs []int64 `json:"asset_ids"`
	// QuietStart and QuietEnd ("HH:MM", in TimeZone) delay notifications
	// that fall between them to QuietEnd; both empty means no quiet hours.
	// Start after end spans midnight (22:00-07:00).
	QuietStart string `json:"quiet_start"`
	QuietEnd   string `json:"quiet_end"`
	// TimeZone is an IANA zone name ("Europe/Berlin"); empty means UTC.
	TimeZone string `json:"time_zone"`
	// Digest sends a daily summary at DigestHour (0-23, in TimeZone).
	Digest     bool `json:"digest"`
	DigestHour int  `json:"digest_hour"`
	// Email is where e-mail goes; empty means the user's login e-mail.
	Email string `json:"email"`
	// TelegramChatID is set by the /start <code> link flow; empty means
	// not linked.
	TelegramChatID string    `json:"telegram_chat_id"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// DefaultNotificationPrefs are what a user who saved nothing gets: e-mail,
// telegram and push enabled (each used once it has an address), warning and
// above, every asset, no quiet hours, no digest.
func DefaultNotificationPrefs(orgID, userID int64) *NotificationPrefs {
	return &NotificationPrefs{
		OrgID: orgID, UserID: userID, Channels: slices.Clone(UserChannels),
		MinSeverity: SeverityWarning, AssetIDs: []int64{}, DigestHour: 8,
	}
}

// Validate checks p and normalizes it: channels sorted and unique, times
// trimmed, an empty MinSeverity becomes warning.
func (p *NotificationPrefs) Validate() error {
	chans := []string{}
	for _, c := range p.Channels {
		c = strings.TrimSpace(c)
		if !slices.Contains(UserChannels, c) {
			return Errorf(EINVALID, "channel %q is not email, telegram or push.", c)
		}
		if !slices.Contains(chans, c) {
			chans = append(chans, c)
		}
	}
	slices.Sort(chans)
	p.Channels = chans
	if p.MinSeverity == "" {
		p.MinSeverity = SeverityWarning
	}
	if p.AssetIDs == nil {
		p.AssetIDs = []int64{}
	}
	p.QuietStart, p.QuietEnd = strings.TrimSpace(p.QuietStart), strings.TrimSpace(p.QuietEnd)
	p.TimeZone, p.Email = strings.TrimSpace(p.TimeZone), strings.TrimSpace(p.Email)
	switch {
	case !p.MinSeverity.Valid():
		return Errorf(EINVALID, "min_severity must be info, warning or critical.")
	case len(p.AssetIDs) > 1000:
		return Errorf(EINVALID, "asset_ids holds at most 1000 assets.")
	case (p.QuietStart == "") != (p.QuietEnd == ""):
		return Errorf(EINVALID, "quiet_start and quiet_end are both set (\"22:00\", \"07:00\") or both empty.")
	case p.DigestHour < 0 || p.DigestHour > 23:
		return Errorf(EINVALID, "digest_hour must be between 0 and 23.")
	case p.Email != "" && (!strings.Contains(p.Email, "@") || len(p.Email) > 254 || strings.ContainsAny(p.Email, " \r\n<>")):
		return Errorf(EINVALID, "email %q is not an e-mail address.", p.Email)
	}
	for _, id := range p.AssetIDs {
		if id <= 0 {
			return Errorf(EINVALID, "asset_ids must be positive asset ids.")
		}
	}
	for _, v := range []string{p.QuietStart, p.QuietEnd} {
		if _, err := parseClock(v); v != "" && err != nil {
			return err
		}
	}
	if p.QuietStart != "" && p.QuietStart == p.QuietEnd {
		return Errorf(EINVALID, "quiet_start and quiet_end must differ.")
	}
	if _, err := p.Location(); err != nil {
		return err
	}
	return nil
}

// parseClock reads "HH:MM" as minutes after midnight.
func parseClock(v string) (int, error) {
	var h, m int
	if len(v) != 5 || v[2] != ':' {
		return 0, Errorf(EINVALID, "%q is not a time of day (HH:MM, e.g. 22:00).", v)
	}
	if _, err := fmt.Sscanf(v, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, Errorf(EINVALID, "%q is not a time of day (HH:MM, e.g. 22:00).", v)
	}
	return h*60 + m, nil
}

// Location returns the IANA zone of TimeZone (UTC when empty).
func (p *NotificationPrefs) Location() (*time.Location, error) {
	if p.TimeZone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil || strings.EqualFold(p.TimeZone, "local") {
		return nil, Errorf(EINVALID, "time_zone %q is not an IANA time zone (e.g. Europe/Berlin).", p.TimeZone)
	}
	return loc, nil
}

// Enabled reports whether channel is enabled.
func (p *NotificationPrefs) Enabled(channel string) bool { return slices.Contains(p.Channels, channel) }

// Wants reports whether an alert of severity sev on asset assetID passes the
// severity and asset filters.
func (p *NotificationPrefs) Wants(sev Severity, assetID int64) bool {
	if severityRank(sev) < severityRank(p.MinSeverity) {
		return false
	}
	return len(p.AssetIDs) == 0 || slices.Contains(p.AssetIDs, assetID)
}

func severityRank(s Severity) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// QuietUntil returns when the quiet hours around t end, and false when t is
// not within quiet hours (or there are none).
func (p *NotificationPrefs) QuietUntil(t time.Time) (time.Time, bool) {
	start, err1 := parseClock(p.QuietStart)
	end, err2 := parseClock(p.QuietEnd)
	loc, err3 := p.Location()
	if p.QuietStart == "" || err1 != nil || err2 != nil || err3 != nil {
		return time.Time{}, false
	}
	lt := t.In(loc)
	mins := lt.Hour()*60 + lt.Minute()
	var quiet bool
	if start < end {
		quiet = mins >= start && mins < end
	} else {
		quiet = mins >= start || mins < end
	}
	if !quiet {
		return time.Time{}, false
	}
	day := lt
	if mins >= end { // the end is tomorrow
		day = lt.AddDate(0, 0, 1)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), end/60, end%60, 0, 0, loc), true
}

// DigestDay returns the local day ("2006-01-02") whose digest is due at t,
// and false when t is not within the digest hour or the digest is off.
func (p *NotificationPrefs) DigestDay(t time.Time) (string, bool) {
	loc, err := p.Location()
	if !p.Digest || err != nil {
		return "", false
	}
	lt := t.In(loc)
	if lt.Hour() != p.DigestHour {
		return "", false
	}
	return lt.Format(time.DateOnly), true
}

// PushToken is one device's FCM registration token of a user.
type PushToken struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"org_id"`
	UserID    int64     `json:"user_id"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the token's shape.
func (t *PushToken) Validate() error {
	t.Token = strings.TrimSpace(t.Token)
	if t.Token == "" || len(t.Token) > 4096 || strings.ContainsAny(t.Token, " \r\n\t") {
		return Errorf(EINVALID, "token is required (an FCM registration token, at most 4096 characters).")
	}
	return nil
}

// Webhook is an org's signed webhook: every alert event of at least
// MinSeverity is posted to URL, signed with Secret.
type Webhook struct {
	ID          int64     `json:"id"`
	OrgID       int64     `json:"org_id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Secret      string    `json:"secret,omitempty"`
	MinSeverity Severity  `json:"min_severity"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate checks the webhook; an empty MinSeverity becomes info.
func (w *Webhook) Validate() error {
	w.Name, w.URL = strings.TrimSpace(w.Name), strings.TrimSpace(w.URL)
	if w.MinSeverity == "" {
		w.MinSeverity = SeverityInfo
	}
	switch {
	case w.Name == "" || len(w.Name) > 200:
		return Errorf(EINVALID, "name is required (at most 200 characters).")
	case !(strings.HasPrefix(w.URL, "https://") || strings.HasPrefix(w.URL, "http://")) || len(w.URL) > 2000 || strings.ContainsAny(w.URL, " \r\n"):
		return Errorf(EINVALID, "url must be an http:// or https:// URL.")
	case len(w.Secret) < 16 || len(w.Secret) > 256:
		return Errorf(EINVALID, "secret must be 16 to 256 characters.")
	case !w.MinSeverity.Valid():
		return Errorf(EINVALID, "min_severity must be info, warning or critical.")
	}
	return nil
}

// Wants reports whether the enabled webhook takes alerts of sev.
func (w *Webhook) Wants(sev Severity) bool {
	return w.Enabled && severityRank(sev) >= severityRank(w.MinSeverity)
}

// DeliveryStatus is where one notification delivery is.
type DeliveryStatus string

// Delivery statuses. A delivery is "sending" from its first attempt until
// it is delivered, failed for good, or batched into a summary.
const (
	DeliverySending    DeliveryStatus = "sending"
	DeliveryDelivered  DeliveryStatus = "delivered"
	DeliveryFailed     DeliveryStatus = "failed"
	DeliveryBatched    DeliveryStatus = "batched"    // rate-limited: goes out in a summary
	DeliverySummarized DeliveryStatus = "summarized" // its summary was delivered
)

// Final reports whether nothing more is to be sent for the delivery.
func (s DeliveryStatus) Final() bool {
	return s == DeliveryDelivered || s == DeliveryFailed || s == DeliverySummarized
}

// Delivery is the ledger row of one notification: one alert event (or
// digest, or summary) to one recipient on one channel. Key is the
// idempotency key, e.g. "event:42/user:7/email".
type Delivery struct {
	Key       string         `json:"key"`
	OrgID     int64          `json:"org_id"`
	EventID   int64          `json:"event_id"`
	AlertID   int64          `json:"alert_id"`
	UserID    int64          `json:"user_id"`
	WebhookID int64          `json:"webhook_id"`
	Channel   string         `json:"channel"`
	Status    DeliveryStatus `json:"status"`
	Attempts  int            `json:"attempts"`
	Error     string         `json:"error"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// TelegramLinkTTL is how long a /start code stays valid.
const TelegramLinkTTL = 15 * time.Minute

// NotificationStore keeps preferences, addresses, webhooks, the delivery
// ledger and the dispatcher's cursor.
type NotificationStore interface {
	// GetNotificationPrefs returns the user's preferences, the defaults
	// when none were saved; ENOTFOUND when userID is not a user of orgID.
	GetNotificationPrefs(ctx context.Context, orgID, userID int64) (*NotificationPrefs, error)
	// ListNotificationPrefs returns every user's preferences of the org
	// (defaults filled in), ordered by user id.
	ListNotificationPrefs(ctx context.Context, orgID int64) ([]*NotificationPrefs, error)
	// PutNotificationPrefs validates and saves p (but not its
	// TelegramChatID, which only the link flow sets); ENOTFOUND as Get.
	PutNotificationPrefs(ctx context.Context, p *NotificationPrefs) error
	// CreateTelegramLink stores a one-time /start code for the user,
	// valid until expires, replacing the user's earlier code.
	CreateTelegramLink(ctx context.Context, orgID, userID int64, code string, expires time.Time) error
	// LinkTelegram sets the chat of the code's user. It accepts a code
	// already used by the same chat (Telegram redelivers updates);
	// ENOTFOUND when the code is unknown or expired at now.
	LinkTelegram(ctx context.Context, code, chatID string, now time.Time) error
	// UnlinkTelegram forgets the chat (the bot was blocked).
	UnlinkTelegram(ctx context.Context, orgID, userID int64) error

	// AddPushToken stores a user's token; the same token again only
	// refreshes it (and moves it to this user).
	AddPushToken(ctx context.Context, t *PushToken) error
	// ListPushTokens returns the user's tokens by id.
	ListPushTokens(ctx context.Context, orgID, userID int64) ([]*PushToken, error)
	// DeletePushToken removes a user's token; ENOTFOUND when it is not theirs.
	DeletePushToken(ctx context.Context, orgID, userID int64, token string) error

	CreateWebhook(ctx context.Context, w *Webhook) error
	// GetWebhook returns ENOTFOUND when id is not a webhook of orgID.
	GetWebhook(ctx context.Context, orgID, id int64) (*Webhook, error)
	ListWebhooks(ctx context.Context, orgID int64) ([]*Webhook, error)
	UpdateWebhook(ctx context.Context, w *Webhook) error
	DeleteWebhook(ctx context.Context, orgID, id int64) error

	// NotifyCursor returns the named cursor, 0 when never set.
	NotifyCursor(ctx context.Context, name string) (int64, error)
	// AdvanceNotifyCursor moves the cursor from `from` to `to`; ECONFLICT
	// when it is no longer at `from` (another dispatcher moved it).
	AdvanceNotifyCursor(ctx context.Context, name string, from, to int64) error

	// ClaimDelivery records an attempt of d (by d.Key) and returns its
	// status: a delivery already final or batched is returned as stored;
	// else, when limit > 0 and the recipient (d.UserID, d.Channel) got at
	// least limit deliveries (sending or delivered) created since since,
	// it becomes DeliveryBatched; otherwise DeliverySending with its
	// Attempts counted.
	ClaimDelivery(ctx context.Context, d *Delivery, limit int, since time.Time) (*Delivery, error)
	// FinishDelivery sets the status and error of the delivery of key.
	FinishDelivery(ctx context.Context, key string, status DeliveryStatus, errMsg string) error
	// GetDelivery returns ENOTFOUND when no delivery has key.
	GetDelivery(ctx context.Context, key string) (*Delivery, error)
	// ListBatchedDeliveries returns the user's batched deliveries on
	// channel, oldest first.
	ListBatchedDeliveries(ctx context.Context, orgID, userID int64, channel string) ([]*Delivery, error)
	// MarkSummarized sets the deliveries of keys to DeliverySummarized.
	MarkSummarized(ctx context.Context, keys []string) error
}
