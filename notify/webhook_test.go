package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon/notify"
)

// capture records the requests an httptest server receives.
type capture struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *capture) record(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.body = append(c.body, b)
	c.mu.Unlock()
	return b
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

var fixedNow = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func TestWebhookRequestShapeAndSignature(t *testing.T) {
	var c capture
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.record(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	h := notify.NewWebhook(notify.WebhookConfig{Now: func() time.Time { return fixedNow }})
	m := alertMessage()
	to := notify.Recipient{Address: srv.URL + "/hooks/vibemon", Secret: "whsec_test"}
	if err := h.Send(context.Background(), to, m, "alert:42:opened:hook:3"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if c.count() != 1 {
		t.Fatalf("receiver got %d requests, want 1", c.count())
	}
	r, body := c.reqs[0], c.body[0]
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/vibemon" {
		t.Errorf("got %s %s, want POST /hooks/vibemon", r.Method, r.URL.Path)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": "alert:42:opened:hook:3",
		"X-VibeMon-Event": "opened",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// The signature, computed here from the documented recipe: hex
	// HMAC-SHA256 over "<t>.<body>" with the secret, t in unix seconds.
	mac := hmac.New(sha256.New, []byte("whsec_test"))
	mac.Write([]byte("1772353800." + string(body)))
	want := "t=1772353800,v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.Header.Get("X-VibeMon-Signature"); got != want {
		t.Errorf("X-VibeMon-Signature: %q, want %q", got, want)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	for k, want := range map[string]any{
		"id": "alert:42:opened:hook:3", "event": "opened", "alert_id": float64(42), "severity": "critical",
		"title": m.Title, "text": m.Text, "link": m.Link,
	} {
		if p[k] != want {
			t.Errorf("body %s = %v, want %v", k, p[k], want)
		}
	}
	if err := notify.VerifyWebhook("whsec_test", r.Header.Get("X-VibeMon-Signature"), body, fixedNow.Add(time.Minute), 0); err != nil {
		t.Errorf("VerifyWebhook rejects our own delivery: %v", err)
	}
}

func TestWebhookStatusMapping(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		wantErr    bool
		permanent  bool
		wantWait   time.Duration
	}{
		{status: 200}, {status: 202}, {status: 204},
		{status: 301, wantErr: true, permanent: true},
		{status: 400, wantErr: true, permanent: true},
		{status: 401, wantErr: true, permanent: true},
		{status: 404, wantErr: true, permanent: true},
		{status: 410, wantErr: true, permanent: true},
		{status: 408, wantErr: true},
		{status: 429, retryAfter: "7", wantErr: true, wantWait: 7 * time.Second},
		{status: 429, retryAfter: fixedNow.Add(30 * time.Second).Format(http.TimeFormat), wantErr: true, wantWait: 30 * time.Second},
		{status: 500, wantErr: true},
		{status: 502, wantErr: true},
		{status: 503, retryAfter: "120", wantErr: true, wantWait: 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+tt.retryAfter, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status/100 == 3 {
					w.Header().Set("Location", "http://169.254.169.254/")
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			h := notify.NewWebhook(notify.WebhookConfig{Now: func() time.Time { return fixedNow }})
			err := h.Send(context.Background(), notify.Recipient{Address: srv.URL, Secret: "s"}, alertMessage(), "k")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if got := notify.RetryAfter(err); got != tt.wantWait {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wantWait)
			}
		})
	}
}

func TestWebhookTransportFailuresAreTemporary(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leave
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	h := notify.NewWebhook(notify.WebhookConfig{Timeout: 200 * time.Millisecond})
	for name, u := range map[string]string{"timeout": slow.URL, "refused": gone.URL} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := h.Send(context.Background(), notify.Recipient{Address: u, Secret: "s"}, alertMessage(), "k")
			if err == nil || notify.IsPermanent(err) || !errors.Is(err, notify.ErrTemporary) {
				t.Fatalf("err = %v, want a temporary error", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s with a 200ms timeout", d)
			}
		})
	}
}

func TestWebhookRejectsBadRecipientsPermanently(t *testing.T) {
	h := notify.NewWebhook(notify.WebhookConfig{})
	for name, to := range map[string]notify.Recipient{
		"no secret":  {Address: "https://hooks.example/x"},
		"not http":   {Address: "ftp://hooks.example/x", Secret: "s"},
		"relative":   {Address: "/x", Secret: "s"},
		"no address": {Secret: "s"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := h.Send(context.Background(), to, alertMessage(), "k"); !notify.IsPermanent(err) {
				t.Errorf("err = %v, want permanent", err)
			}
		})
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"id":"k","event":"opened"}`)
	sig := notify.SignWebhook("secret", fixedNow, body)
	_, v1, _ := strings.Cut(sig, ",")
	old := notify.SignWebhook("old-secret", fixedNow, body)
	_, oldV1, _ := strings.Cut(old, ",")
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		now     time.Time
		wantErr bool
	}{
		{name: "valid", secret: "secret", header: sig, body: body, now: fixedNow},
		{name: "valid within tolerance", secret: "secret", header: sig, body: body, now: fixedNow.Add(4 * time.Minute)},
		{name: "rotation: any v1 matches", secret: "secret", header: "t=1772353800," + oldV1 + "," + v1, body: body, now: fixedNow},
		{name: "spaces after commas", secret: "secret", header: "t=1772353800, " + v1, body: body, now: fixedNow},
		{name: "tampered body", secret: "secret", header: sig, body: []byte(`{"id":"k","event":"resolved"}`), now: fixedNow, wantErr: true},
		{name: "wrong secret", secret: "other", header: sig, body: body, now: fixedNow, wantErr: true},
		{name: "replayed too late", secret: "secret", header: sig, body: body, now: fixedNow.Add(6 * time.Minute), wantErr: true},
		{name: "from the future", secret: "secret", header: sig, body: body, now: fixedNow.Add(-6 * time.Minute), wantErr: true},
		{name: "timestamp changed", secret: "secret", header: "t=1772353801," + v1, body: body, now: fixedNow, wantErr: true},
		{name: "no timestamp", secret: "secret", header: v1, body: body, now: fixedNow, wantErr: true},
		{name: "no signature", secret: "secret", header: "t=1772353800", body: body, now: fixedNow, wantErr: true},
		{name: "empty", secret: "secret", header: "", body: body, now: fixedNow, wantErr: true},
		{name: "not hex", secret: "secret", header: "t=1772353800,v1=zz", body: body, now: fixedNow, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := notify.VerifyWebhook(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute)
			if (err != nil) != tt.wantErr {
				t.Fatalf("VerifyWebhook = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, notify.ErrWebhookSignature) {
				t.Errorf("error %v does not wrap ErrWebhookSignature", err)
			}
		})
	}
}
