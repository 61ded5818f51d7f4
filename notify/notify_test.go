package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/notify"
)

var (
	_ notify.Sender = (*notify.Telegram)(nil)
	_ notify.Sender = (*notify.Email)(nil)
	_ notify.Sender = (*notify.Push)(nil)
	_ notify.Sender = (*notify.Webhook)(nil)
)

// senderUnderTest is one channel wired to its local peer, with a valid
// recipient and a way to count what reached the peer.
type senderUnderTest struct {
	sender    notify.Sender
	to        notify.Recipient
	delivered func() int
}

func allSenders(t *testing.T) map[string]senderUnderTest {
	t.Helper()
	out := map[string]senderUnderTest{}

	b, srv := startBotAPI(t)
	tg, err := notify.NewTelegram(notify.TelegramConfig{Token: botToken, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	out[notify.ChannelTelegram] = senderUnderTest{tg, notify.Recipient{Address: "42"}, func() int { return len(b.sentMessages()) }}

	peer := startSMTP(t, peerOptions{security: notify.SMTPNoTLS})
	em, err := notify.NewEmail(peer.config(notify.SMTPNoTLS))
	if err != nil {
		t.Fatal(err)
	}
	out[notify.ChannelEmail] = senderUnderTest{em, notify.Recipient{Address: "ana@plant.example"}, func() int { return len(peer.messages()) }}

	p, fcm, _ := startFCM(t)
	out[notify.ChannelPush] = senderUnderTest{p, notify.Recipient{Address: "tok"}, func() int {
		fcm.mu.Lock()
		defer fcm.mu.Unlock()
		return len(fcm.calls)
	}}

	var c capture
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.record(r) }))
	t.Cleanup(hook.Close)
	out[notify.ChannelWebhook] = senderUnderTest{notify.NewWebhook(notify.WebhookConfig{}), notify.Recipient{Address: hook.URL, Secret: "s"}, c.count}
	return out
}

// TestEverySender is the contract all channels share.
func TestEverySender(t *testing.T) {
	for name, s := range allSenders(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.sender.Send(ctx, s.to, alertMessage(), "k1"); err != nil {
				t.Fatalf("valid send: %v", err)
			}
			if got := s.delivered(); got != 1 {
				t.Fatalf("peer received %d, want 1", got)
			}
			bad := map[string]func() error{
				"empty key":     func() error { return s.sender.Send(ctx, s.to, alertMessage(), "") },
				"empty address": func() error { return s.sender.Send(ctx, notify.Recipient{Secret: "s"}, alertMessage(), "k") },
				"no title": func() error {
					m := alertMessage()
					m.Title = " "
					return s.sender.Send(ctx, s.to, m, "k")
				},
				"unknown event": func() error {
					m := alertMessage()
					m.Event = "fired"
					return s.sender.Send(ctx, s.to, m, "k")
				},
			}
			for what, send := range bad {
				if err := send(); !notify.IsPermanent(err) || vibemon.ErrorCode(err) != vibemon.EINVALID {
					t.Errorf("%s: err = %v, want permanent EINVALID", what, err)
				}
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.sender.Send(cancelled, s.to, alertMessage(), "k2"); err == nil || notify.IsPermanent(err) {
				t.Errorf("cancelled context: err = %v, want temporary", err)
			}
			if got := s.delivered(); got != 1 {
				t.Errorf("peer received %d after the invalid sends, want still 1", got)
			}
		})
	}
}

func TestChannelsRegistry(t *testing.T) {
	var ch notify.Channels
	senders := allSenders(t)
	for name, s := range senders {
		ch.Register(name, s.sender)
	}
	if got, want := strings.Join(ch.Names(), ","), "email,push,telegram,webhook"; got != want {
		t.Errorf("Names = %s, want %s", got, want)
	}
	if err := ch.Send(context.Background(), notify.ChannelWebhook, senders[notify.ChannelWebhook].to, alertMessage(), "k"); err != nil {
		t.Errorf("Send via registry: %v", err)
	}
	if senders[notify.ChannelWebhook].delivered() != 1 {
		t.Errorf("webhook peer did not receive the message sent through the registry")
	}
	err := ch.Send(context.Background(), "sms", notify.Recipient{Address: "+100"}, alertMessage(), "k")
	if !notify.IsPermanent(err) || vibemon.ErrorCode(err) != vibemon.EINVALID || !strings.Contains(err.Error(), `"sms"`) {
		t.Errorf("unknown channel: err = %v, want permanent EINVALID naming it", err)
	}
	if _, err := ch.Get("sms"); err == nil {
		t.Error("Get(sms) succeeded")
	}
	// A server started without notification settings has no registry.
	var none *notify.Channels
	if names := none.Names(); len(names) != 0 {
		t.Errorf("nil registry Names = %v, want none", names)
	}
	if err := none.Send(context.Background(), notify.ChannelEmail, notify.Recipient{Address: "a@b.c"}, alertMessage(), "k"); !notify.IsPermanent(err) {
		t.Errorf("send through a nil registry: err = %v, want a permanent 'not configured'", err)
	}
}

func TestDeliveryErrorMatchesOneSentinel(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		err       *notify.DeliveryError
		permanent bool
		text      string
	}{
		{&notify.DeliveryError{Channel: "webhook", Permanent: true, Status: 410, Err: cause}, true, "webhook: permanent failure (status 410): boom"},
		{&notify.DeliveryError{Channel: "telegram", Status: 429, RetryAfter: 3 * time.Second, Err: cause}, false, "telegram: temporary failure (status 429) (retry after 3s): boom"},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("deliver alert 42: %w", tt.err)
		if errors.Is(wrapped, notify.ErrPermanent) != tt.permanent || errors.Is(wrapped, notify.ErrTemporary) == tt.permanent {
			t.Errorf("%v matches the wrong sentinel", tt.err)
		}
		if !errors.Is(wrapped, cause) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
		if got := tt.err.Error(); got != tt.text {
			t.Errorf("Error() = %q, want %q", got, tt.text)
		}
	}
	if notify.IsPermanent(errors.New("plain")) || notify.RetryAfter(errors.New("plain")) != 0 {
		t.Error("a plain error is neither permanent nor has a retry delay")
	}
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*notify.Message)
		want string // "" for valid
	}{
		{name: "valid", edit: func(*notify.Message) {}},
		{name: "digest without alert or severity", edit: func(m *notify.Message) { m.AlertID, m.Severity, m.Event = 0, "", notify.EventDigest }},
		{name: "no title", edit: func(m *notify.Message) { m.Title = "" }, want: "title"},
		{name: "no text", edit: func(m *notify.Message) { m.Text = "\n" }, want: "text"},
		{name: "bad event", edit: func(m *notify.Message) { m.Event = "" }, want: "event"},
		{name: "bad severity", edit: func(m *notify.Message) { m.Severity = "urgent" }, want: "severity"},
		{name: "negative alert", edit: func(m *notify.Message) { m.AlertID = -1 }, want: "alert_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := alertMessage()
			tt.edit(&m)
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if vibemon.ErrorCode(err) != vibemon.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want EINVALID about %s", err, tt.want)
			}
		})
	}
}
