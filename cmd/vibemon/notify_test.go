package main

import (
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// inbox is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that keeps
// the messages it accepts.
type inbox struct {
	mu   sync.Mutex
	msgs []string
	got  chan struct{}
	addr string
}

type inboxSession struct{ in *inbox }

func (s inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s inboxSession) Reset()                               {}
func (s inboxSession) Logout() error                        { return nil }
func (s inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	s.in.msgs = append(s.in.msgs, string(b))
	s.in.mu.Unlock()
	s.in.got <- struct{}{}
	return nil
}

func startInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{got: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return inboxSession{in}, nil }))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return in
}

// An alert raised by telemetry through `vibemon serve` reaches the admin's
// mailbox once, with a link into the panel; the API says e-mail is on and
// Telegram is not configured.
func TestServeEmailsAnOpenedAlert(t *testing.T) {
	in := startInbox(t)
	p := startProgram(t, map[string]string{
		"VIBEMON_DATA_DIR":   t.TempDir(),
		"VIBEMON_SMTP_URL":   "smtp://" + in.addr + "?starttls=0",
		"VIBEMON_SMTP_FROM":  "VibeMon <alerts@vibemon.example>",
		"VIBEMON_PUBLIC_URL": "https://vibemon.plant.example/",
	}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	var prefs struct {
		Channels map[string]struct {
			Active     bool
			Configured bool
		}
	}
	if st := c.do("GET", "/api/v1/me/notifications", nil, &prefs); st != 200 || !prefs.Channels["email"].Active || prefs.Channels["telegram"].Configured {
		t.Fatalf("GET /me/notifications: status %d, %+v; want e-mail active, Telegram not configured", st, prefs)
	}
	var asset, dev, rule struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Cooling pump", "iso_group": 2, "foundation": "rigid"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:07", "asset_id": asset.ID}, &dev); st != 201 {
		t.Fatalf("register device: status %d", st)
	}
	if st := c.do("POST", "/api/v1/alert-rules", map[string]any{"name": "vibration", "metric": "vel_rms_x", "op": "above", "threshold": 7.1, "severity": "critical", "enabled": true}, &rule); st != 201 {
		t.Fatalf("create rule: status %d", st)
	}
	reading := map[string]any{"device_id": dev.ID, "seq": 1, "ts": time.Now().UTC().Format(time.RFC3339), "vel_rms_x": 11.2}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": []any{reading}}, nil); st != 200 {
		t.Fatalf("ingest: status %d", st)
	}
	var alerts struct{ Items []struct{ ID int64 } }
	if st := c.do("GET", "/api/v1/alerts", nil, &alerts); st != 200 || len(alerts.Items) != 1 {
		t.Fatalf("alerts: status %d, %+v; want one", st, alerts)
	}
	select {
	case <-in.got:
	case <-time.After(60 * time.Second):
		t.Fatal("no e-mail within 60 s of the alert")
	}
	in.mu.Lock()
	raw := in.msgs[0]
	in.mu.Unlock()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, testAdminEmail) {
		t.Errorf("To = %q, want the admin", to)
	}
	if subj := m.Header.Get("Subject"); !strings.HasPrefix(subj, "CRITICAL") {
		t.Errorf("Subject = %q, want it to start with the severity", subj)
	}
	if link := fmt.Sprintf("https://vibemon.plant.example/alerts/%d", alerts.Items[0].ID); !strings.Contains(raw, link) {
		t.Errorf("the message has no %s:\n%s", link, raw)
	}
	// A second reading updates the same alert: no second message.
	reading["seq"], reading["vel_rms_x"] = 2, 12.0
	c.do("POST", "/api/v1/telemetry", map[string]any{"readings": []any{reading}}, nil)
	p.Stop(t)
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) != 1 {
		t.Errorf("%d messages, want 1", len(in.msgs))
	}
}
