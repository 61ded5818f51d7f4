package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// Channel names under which Channels registers the senders of this package.
const (
	ChannelTelegram = "telegram"
	ChannelEmail    = "email"
	ChannelPush     = "push"
	ChannelWebhook  = "webhook"
)

// EventKind says why a notification is sent.
type EventKind string

// Event kinds.
const (
	EventOpened    EventKind = "opened"    // an alert was raised
	EventEscalated EventKind = "escalated" // nobody acknowledged it in time
	EventReminder  EventKind = "reminder"  // it is still open
	EventResolved  EventKind = "resolved"  // it is over
	EventDigest    EventKind = "digest"    // a summary of several alerts
	// Webhooks (and an assignee) also hear of these.
	EventAcknowledged EventKind = "acknowledged" // somebody took it on
	EventAssigned     EventKind = "assigned"     // it was assigned to somebody
)

// Valid reports whether k is a known event kind.
func (k EventKind) Valid() bool {
	switch k {
	case EventOpened, EventEscalated, EventReminder, EventResolved, EventDigest, EventAcknowledged, EventAssigned:
		return true
	}
	return false
}

// Message is one notification, rendered once by the caller and delivered by
// any channel. Each channel uses the parts it can show: Telegram and push use
// Title and Text, e-mail sends Text and HTML as alternatives, a webhook sends
// every field as JSON.
type Message struct {
	// Title is the subject line (e-mail subject, push title, bold first
	// line in Telegram). Required.
	Title string
	// Text is the plain-text body. Required.
	Text string
	// HTML is the HTML body of e-mails; empty means text only.
	HTML string
	// Link is the absolute URL of the alert in the panel; empty means none.
	Link string
	// Severity of the alert (empty for digests).
	Severity vibemon.Severity
	// AlertID is the alert the message is about, 0 for digests.
	AlertID int64
	// Event says why the message is sent.
	Event EventKind
}

// Validate reports an EINVALID *vibemon.Error naming the first wrong field.
func (m *Message) Validate() error {
	switch {
	case strings.TrimSpace(m.Title) == "":
		return vibemon.Errorf(vibemon.EINVALID, "message title is required.")
	case strings.TrimSpace(m.Text) == "":
		return vibemon.Errorf(vibemon.EINVALID, "message text is required.")
	case !m.Event.Valid():
		return vibemon.Errorf(vibemon.EINVALID, "message event %q is not opened, escalated, reminder, resolved, digest, acknowledged or assigned.", m.Event)
	case m.Severity != "" && !m.Severity.Valid():
		return vibemon.Errorf(vibemon.EINVALID, "message severity %q is not info, warning or critical.", m.Severity)
	case m.AlertID < 0:
		return vibemon.Errorf(vibemon.EINVALID, "message alert_id must be positive or 0.")
	}
	return nil
}

// Recipient is where one channel delivers: a Telegram chat id, an e-mail
// address, an FCM registration token or a webhook URL.
type Recipient struct {
	// Address is the chat id, e-mail address, registration token or URL.
	Address string
	// Name is a display name (the e-mail To name); optional.
	Name string
	// Secret signs webhook deliveries; other channels ignore it.
	Secret string
}

// Sender delivers one message to one recipient.
//
// Send returns nil when the channel accepted the message. Otherwise its error
// wraps ErrPermanent when retrying cannot help (invalid recipient, rejected
// request, blocked bot, unregistered device) or ErrTemporary when a later
// retry may succeed (network failure, timeout, 5xx, rate limit; RetryAfter
// then tells how long the channel asked to wait). idempotencyKey identifies
// the (alert event, recipient) pair: the same key on a retry lets channels
// that support it drop the duplicate. It must not be empty.
type Sender interface {
	Send(ctx context.Context, to Recipient, m Message, idempotencyKey string) error
}

// ErrPermanent is wrapped by delivery errors that retrying will not fix.
var ErrPermanent = errors.New("permanent delivery failure")

// ErrTemporary is wrapped by delivery errors that a later retry may fix.
var ErrTemporary = errors.New("temporary delivery failure")

// DeliveryError is a failed delivery. It matches ErrPermanent or
// ErrTemporary with errors.Is, depending on Permanent.
type DeliveryError struct {
	// Channel is the channel name ("telegram", "email", ...).
	Channel string
	// Permanent is true when retrying cannot help.
	Permanent bool
	// Status is the HTTP status or SMTP reply code, 0 when there was none.
	Status int
	// RetryAfter is the wait the channel asked for, 0 when it did not say.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

// Error describes the failure and whether it is worth a retry.
func (e *DeliveryError) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	s := fmt.Sprintf("%s: %s failure", e.Channel, kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Is matches ErrPermanent or ErrTemporary.
func (e *DeliveryError) Is(target error) bool {
	return (target == ErrPermanent && e.Permanent) || (target == ErrTemporary && !e.Permanent)
}

// IsPermanent reports whether err says that retrying cannot help.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// RetryAfter returns the wait that the channel asked for before a retry, 0
// when it did not say.
func RetryAfter(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

func permanent(channel string, status int, err error) error {
	return &DeliveryError{Channel: channel, Permanent: true, Status: status, Err: err}
}

func temporary(channel string, status int, err error) error {
	return &DeliveryError{Channel: channel, Status: status, Err: err}
}

// checkSend validates what every Send receives; a bad argument is a
// permanent failure because the same call will fail again.
func checkSend(channel string, to Recipient, m *Message, key string) error {
	if strings.TrimSpace(to.Address) == "" {
		return permanent(channel, 0, vibemon.Errorf(vibemon.EINVALID, "recipient address is required."))
	}
	if key == "" {
		return permanent(channel, 0, vibemon.Errorf(vibemon.EINVALID, "idempotency key is required."))
	}
	if err := m.Validate(); err != nil {
		return permanent(channel, 0, err)
	}
	return nil
}

// keyHash is a stable, opaque digest of an idempotency key, safe in headers
// and Message-IDs whatever characters the key holds.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// classifyHTTP maps an HTTP status to a delivery error: 408, 425, 429 and
// 5xx are temporary, other 4xx (and unexpected 1xx/3xx) are permanent.
func classifyHTTP(channel string, status int, retryAfter time.Duration, err error) error {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500:
		return &DeliveryError{Channel: channel, Status: status, RetryAfter: retryAfter, Err: err}
	default:
		return &DeliveryError{Channel: channel, Permanent: true, Status: status, Err: err}
	}
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Channels is the registry of senders by channel name. The zero value is
// empty and ready to use, and a nil *Channels has no channel; it is not safe for registration concurrent with
// lookups, so register everything at start-up.
type Channels struct {
	m map[string]Sender
}

// Register adds s under name, replacing any sender of that name.
func (c *Channels) Register(name string, s Sender) {
	if c.m == nil {
		c.m = map[string]Sender{}
	}
	c.m[name] = s
}

// Get returns the sender of name, or an EINVALID *vibemon.Error when no such
// channel is configured.
func (c *Channels) Get(name string) (Sender, error) {
	var s Sender
	ok := false
	if c != nil {
		s, ok = c.m[name]
	}
	if !ok {
		return nil, vibemon.Errorf(vibemon.EINVALID, "notification channel %q is not configured (configured: %s).", name, strings.Join(c.Names(), ", "))
	}
	return s, nil
}

// Names returns the registered channel names, sorted.
func (c *Channels) Names() []string {
	if c == nil {
		return []string{}
	}
	out := make([]string, 0, len(c.m))
	for n := range c.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Send delivers m through the named channel. An unknown channel is a
// permanent failure: retrying will not configure it.
func (c *Channels) Send(ctx context.Context, channel string, to Recipient, m Message, idempotencyKey string) error {
	s, err := c.Get(channel)
	if err != nil {
		return permanent(channel, 0, err)
	}
	return s.Send(ctx, to, m, idempotencyKey)
}

// errInvalidf returns an EINVALID *vibemon.Error; config validation uses it
// with the name of the wrong field first.
func errInvalidf(format string, args ...any) error {
	return vibemon.Errorf(vibemon.EINVALID, format, args...)
}
