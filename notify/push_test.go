package notify_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/vibemon/vibemon/notify"
)

// googleOAuth is a local OAuth 2.0 token endpoint for service accounts: it
// accepts the JWT bearer grant (RFC 7523) only when the assertion is signed
// RS256 with the account's key and names the account, the scope and this
// endpoint as the audience, as Google's token endpoint requires.
type googleOAuth struct {
	t      *testing.T
	pub    *rsa.PublicKey
	email  string
	kid    string
	url    string
	mu     sync.Mutex
	issued int
	reject bool
}

func (g *googleOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(format string, args ...any) {
		g.t.Errorf("token endpoint: "+format, args...)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		fail("%s with %q, want a POSTed form", r.Method, r.Header.Get("Content-Type"))
		return
	}
	if g.reject {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid grant: account not found"}`)
		return
	}
	if gt := r.PostFormValue("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("grant_type %q", gt)
		return
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(r.PostFormValue("assertion"), claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != g.kid {
			return nil, fmt.Errorf("kid %v, want %s", tok.Header["kid"], g.kid)
		}
		return g.pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(g.url), jwt.WithIssuer(g.email),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil || !tok.Valid {
		fail("assertion rejected: %v", err)
		return
	}
	if claims["scope"] != notify.FCMScope {
		fail("scope %v, want %s", claims["scope"], notify.FCMScope)
		return
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if exp-iat > 3600 || exp <= iat {
		fail("exp-iat = %v s, Google allows at most 3600", exp-iat)
		return
	}
	g.mu.Lock()
	g.issued++
	n := g.issued
	g.mu.Unlock()
	fmt.Fprintf(w, `{"access_token":"ya29.test-%d","expires_in":3599,"token_type":"Bearer"}`, n)
}

// fcmServer records messages:send calls and answers with reply (200 with a
// message name when nil).
type fcmServer struct {
	t     *testing.T
	mu    sync.Mutex
	calls []fcmCall
	reply func(w http.ResponseWriter)
}

type fcmCall struct {
	path, auth, contentType string
	body                    map[string]any
}

func (f *fcmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("messages:send body is not JSON: %v", err)
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("method %s, want POST", r.Method)
	}
	f.mu.Lock()
	f.calls = append(f.calls, fcmCall{path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), body: body})
	reply := f.reply
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if reply != nil {
		reply(w)
		return
	}
	io.WriteString(w, `{"name":"projects/vibemon-plant/messages/0:1500415314455276%31bd1c9631bd1c96"}`)
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	keyErr  error
)

// testKey is one RSA key for all tests: generating 2048-bit keys is slow.
func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() { rsaKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return rsaKey
}

// startFCM returns a Push wired to a local FCM and token endpoint.
func startFCM(t *testing.T) (*notify.Push, *fcmServer, *googleOAuth) {
	t.Helper()
	key := testKey(t)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	oauth := &googleOAuth{t: t, pub: &key.PublicKey, email: "vibemon-push@vibemon-plant.iam.gserviceaccount.com", kid: "3f2a1b"}
	tokenSrv := httptest.NewServer(oauth)
	t.Cleanup(tokenSrv.Close)
	oauth.url = tokenSrv.URL + "/token"
	fcm := &fcmServer{t: t}
	fcmSrv := httptest.NewServer(fcm)
	t.Cleanup(fcmSrv.Close)
	// A key file as the Google Cloud console downloads it.
	creds, _ := json.Marshal(map[string]string{
		"type":                        "service_account",
		"project_id":                  "vibemon-plant",
		"private_key_id":              oauth.kid,
		"private_key":                 string(pemKey),
		"client_email":                oauth.email,
		"client_id":                   "104857600000000000000",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   oauth.url,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	})
	p, err := notify.NewPush(notify.PushConfig{Credentials: creds, BaseURL: fcmSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p, fcm, oauth
}

func TestPushRequestShape(t *testing.T) {
	p, fcm, oauth := startFCM(t)
	m := alertMessage()
	token := "fGw0qy4TGgk:APA91bGtWGjuhp4WRhHXgbabIYp1jxEKI08ofj_v1bKhWAGJQ4e3a"
	if err := p.Send(context.Background(), notify.Recipient{Address: token}, m, "alert:42:opened:device:9"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(fcm.calls) != 1 {
		t.Fatalf("FCM got %d calls, want 1", len(fcm.calls))
	}
	c := fcm.calls[0]
	if c.path != "/v1/projects/vibemon-plant/messages:send" {
		t.Errorf("path %q, want /v1/projects/vibemon-plant/messages:send", c.path)
	}
	if c.auth != "Bearer ya29.test-1" {
		t.Errorf("Authorization %q, want the access token from the token endpoint", c.auth)
	}
	if !strings.HasPrefix(c.contentType, "application/json") {
		t.Errorf("Content-Type %q, want application/json", c.contentType)
	}
	msg, _ := c.body["message"].(map[string]any)
	if msg["token"] != token {
		t.Errorf("message.token = %v", msg["token"])
	}
	n, _ := msg["notification"].(map[string]any)
	if n["title"] != m.Title || n["body"] != m.Text {
		t.Errorf("message.notification = %v, want title and body of the message", n)
	}
	data, _ := msg["data"].(map[string]any)
	for k, want := range map[string]string{"alert_id": "42", "event": "opened", "severity": "critical", "link": m.Link} {
		if data[k] != want {
			t.Errorf("message.data.%s = %#v, want %q", k, data[k], want)
		}
	}
	for k, v := range data {
		if _, ok := v.(string); !ok {
			t.Errorf("message.data.%s = %#v: FCM accepts only string values", k, v)
		}
	}
	wp, _ := msg["webpush"].(map[string]any)
	if opts, _ := wp["fcm_options"].(map[string]any); opts["link"] != m.Link {
		t.Errorf("message.webpush.fcm_options = %v, want link %s", wp["fcm_options"], m.Link)
	}
	hdrs, _ := wp["headers"].(map[string]any)
	if topic, _ := hdrs["Topic"].(string); len(topic) == 0 || len(topic) > 32 {
		t.Errorf("webpush Topic %q, want 1..32 characters", topic)
	}

	// The access token is reused for the next message.
	if err := p.Send(context.Background(), notify.Recipient{Address: token}, m, "alert:42:escalated:device:9"); err != nil {
		t.Fatal(err)
	}
	if oauth.issued != 1 || fcm.calls[1].auth != "Bearer ya29.test-1" {
		t.Errorf("token endpoint issued %d tokens for two messages, want 1 reused", oauth.issued)
	}
}

func TestPushNoFCMLinkForPlainHTTP(t *testing.T) {
	p, fcm, _ := startFCM(t)
	m := alertMessage()
	m.Link = "http://localhost:8080/alerts/42"
	if err := p.Send(context.Background(), notify.Recipient{Address: "tok"}, m, "k"); err != nil {
		t.Fatal(err)
	}
	msg := fcm.calls[0].body["message"].(map[string]any)
	if _, ok := msg["webpush"].(map[string]any)["fcm_options"]; ok {
		t.Errorf("fcm_options set for an http link; FCM requires HTTPS there")
	}
	if msg["data"].(map[string]any)["link"] != m.Link {
		t.Errorf("data.link should still carry the link")
	}
}

func fcmError(status int, grpc, fcmCode string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		details := `[]`
		if fcmCode != "" {
			details = `[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"` + fcmCode + `"}]`
		}
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"Requested entity was not found.","status":%q,"details":%s}}`, status, grpc, details)
	}
}

func TestPushErrorMapping(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(w http.ResponseWriter)
		permanent bool
		wait      time.Duration
	}{
		{name: "UNREGISTERED", reply: fcmError(404, "NOT_FOUND", "UNREGISTERED"), permanent: true},
		{name: "INVALID_ARGUMENT", reply: fcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), permanent: true},
		{name: "bad request without FCM detail", reply: fcmError(400, "INVALID_ARGUMENT", ""), permanent: true},
		{name: "SENDER_ID_MISMATCH", reply: fcmError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), permanent: true},
		{name: "QUOTA_EXCEEDED", reply: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "60")
			fcmError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")(w)
		}, wait: time.Minute},
		{name: "UNAVAILABLE", reply: fcmError(503, "UNAVAILABLE", "UNAVAILABLE")},
		{name: "INTERNAL", reply: fcmError(500, "INTERNAL", "INTERNAL")},
		{name: "THIRD_PARTY_AUTH_ERROR", reply: fcmError(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")},
		{name: "HTML error page", reply: func(w http.ResponseWriter) { w.WriteHeader(502); io.WriteString(w, "<html>bad gateway</html>") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, fcm, _ := startFCM(t)
			fcm.reply = tt.reply
			err := p.Send(context.Background(), notify.Recipient{Address: "tok"}, alertMessage(), "k")
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if got := notify.RetryAfter(err); got != tt.wait {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wait)
			}
		})
	}
}

func TestPushRefetchesTokenAfter401(t *testing.T) {
	p, fcm, oauth := startFCM(t)
	fcm.reply = fcmError(401, "UNAUTHENTICATED", "")
	if err := p.Send(context.Background(), notify.Recipient{Address: "tok"}, alertMessage(), "k"); err == nil || notify.IsPermanent(err) {
		t.Fatalf("err = %v, want temporary", err)
	}
	fcm.reply = nil
	if err := p.Send(context.Background(), notify.Recipient{Address: "tok"}, alertMessage(), "k"); err != nil {
		t.Fatal(err)
	}
	if oauth.issued != 2 || fcm.calls[1].auth != "Bearer ya29.test-2" {
		t.Errorf("issued %d tokens, second call used %q; want a fresh token after 401", oauth.issued, fcm.calls[1].auth)
	}
}

func TestPushTokenEndpointFailures(t *testing.T) {
	p, fcm, oauth := startFCM(t)
	oauth.reject = true
	err := p.Send(context.Background(), notify.Recipient{Address: "tok"}, alertMessage(), "k")
	if !notify.IsPermanent(err) {
		t.Errorf("rejected grant: err = %v, want permanent (credentials must be fixed)", err)
	}
	if len(fcm.calls) != 0 {
		t.Errorf("FCM called without an access token")
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	key := testKey(t)
	creds, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "client_email": "a@p.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	})
	p2, err := notify.NewPush(notify.PushConfig{Credentials: creds, TokenURL: down.URL, BaseURL: down.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Send(context.Background(), notify.Recipient{Address: "tok"}, alertMessage(), "k"); err == nil || notify.IsPermanent(err) {
		t.Errorf("token endpoint down: err = %v, want temporary", err)
	}
}

func TestNewPushValidatesCredentials(t *testing.T) {
	for name, creds := range map[string]string{
		"empty":        ``,
		"not JSON":     `{`,
		"user account": `{"type":"authorized_user","client_email":"a@b","private_key":"x"}`,
		"bad key":      `{"type":"service_account","project_id":"p","client_email":"a@b","private_key":"not pem"}`,
		"no project":   `{"type":"service_account","client_email":"a@b","private_key":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := notify.NewPush(notify.PushConfig{Credentials: []byte(creds)}); err == nil {
				t.Error("NewPush accepted bad credentials")
			}
		})
	}
}
