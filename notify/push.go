package notify

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
)

// Firebase defaults.
const (
	DefaultFCMURL      = "https://fcm.googleapis.com"
	DefaultFCMTokenURL = "https://oauth2.googleapis.com/token"
	// FCMScope is the OAuth 2.0 scope that sending requires.
	FCMScope = "https://www.googleapis.com/auth/firebase.messaging"
)

// PushConfig configures the push sender.
type PushConfig struct {
	// Credentials is the content of a Google service-account JSON key
	// with the Firebase Cloud Messaging API permission. Required.
	Credentials []byte
	// ProjectID defaults to the key's project_id.
	ProjectID string
	// BaseURL is the FCM server. Defaults to DefaultFCMURL.
	BaseURL string
	// TokenURL is the OAuth 2.0 token endpoint that receives the signed
	// JWT. Defaults to the key's token_uri, else DefaultFCMTokenURL.
	TokenURL string
	// Timeout bounds one delivery and one token request. Defaults to 10 s.
	Timeout time.Duration
	// HTTPClient defaults to a client that does not follow redirects.
	HTTPClient *http.Client
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// serviceAccount is the part of a service-account key that matters here.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// Push sends web push notifications through Firebase Cloud Messaging HTTP
// v1. A Recipient's Address is the FCM registration token of a browser or
// app. Access tokens come from the service account with the JWT bearer grant
// (RFC 7523) and are reused until shortly before they expire.
//
// FCM has no idempotency key. The key's digest is sent as the Web Push
// Topic, so a retry replaces an undelivered duplicate instead of adding one.
type Push struct {
	cfg      PushConfig
	endpoint string
	jwt      *jwt.Config
	tokenHC  *http.Client

	mu    sync.Mutex
	token *oauth2.Token
}

// NewPush returns a push sender, or an EINVALID error naming the wrong field.
func NewPush(cfg PushConfig) (*Push, error) {
	var sa serviceAccount
	if len(cfg.Credentials) == 0 {
		return nil, errInvalidf("PushConfig.Credentials (a service-account JSON key) is required.")
	}
	if err := json.Unmarshal(cfg.Credentials, &sa); err != nil {
		return nil, errInvalidf("PushConfig.Credentials is not a JSON key: %v.", err)
	}
	if sa.Type != "service_account" || sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, errInvalidf("PushConfig.Credentials must be a service_account key with client_email and private_key.")
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = sa.ProjectID
	}
	if cfg.ProjectID == "" || strings.ContainsAny(cfg.ProjectID, "/?# ") {
		return nil, errInvalidf("PushConfig.ProjectID %q is not a project id.", cfg.ProjectID)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultFCMURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = sa.TokenURI
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultFCMTokenURL
	}
	for name, v := range map[string]string{"BaseURL": cfg.BaseURL, "TokenURL": cfg.TokenURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errInvalidf("PushConfig.%s %q must be an http(s) URL.", name, v)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Push{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/v1/projects/" + url.PathEscape(cfg.ProjectID) + "/messages:send",
		jwt: &jwt.Config{
			Email:        sa.ClientEmail,
			PrivateKey:   []byte(sa.PrivateKey),
			PrivateKeyID: sa.PrivateKeyID,
			Scopes:       []string{FCMScope},
			TokenURL:     cfg.TokenURL,
		},
	}
	// The oauth2 package posts the grant without the caller's context, so
	// the token request gets its bound from the client.
	hc := *cfg.HTTPClient
	hc.Timeout = cfg.Timeout
	p.tokenHC = &hc
	// Fail on a malformed key now rather than on the first alert.
	if _, err := jwtKeyCheck(p.jwt.PrivateKey); err != nil {
		return nil, errInvalidf("PushConfig.Credentials private_key: %v.", err)
	}
	return p, nil
}

// accessToken returns a cached token, fetching a new one when it is missing
// or about to expire.
func (p *Push) accessToken(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != nil && p.token.AccessToken != "" && (p.token.Expiry.IsZero() || p.cfg.Now().Add(time.Minute).Before(p.token.Expiry)) {
		return p.token.AccessToken, nil
	}
	tok, err := p.jwt.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, p.tokenHC)).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			// 4xx: the key is revoked, disabled or lacks permission;
			// retrying will not help until an admin replaces it.
			return "", classifyHTTP(ChannelPush, re.Response.StatusCode, 0, fmt.Errorf("fetch access token: %w", err))
		}
		return "", temporary(ChannelPush, 0, fmt.Errorf("fetch access token: %w", err))
	}
	p.token = tok
	return tok.AccessToken, nil
}

// FCM HTTP v1 request shapes
// (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages).
type fcmRequest struct {
	Message fcmMessage `json:"message"`
}

type fcmMessage struct {
	Token        string            `json:"token"`
	Notification fcmNotification   `json:"notification"`
	Data         map[string]string `json:"data,omitempty"`
	Webpush      *fcmWebpush       `json:"webpush,omitempty"`
}

type fcmNotification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

type fcmWebpush struct {
	Headers    map[string]string `json:"headers,omitempty"`
	FCMOptions *fcmWebpushOpts   `json:"fcm_options,omitempty"`
}

type fcmWebpushOpts struct {
	Link string `json:"link,omitempty"`
}

type fcmErrorResponse struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// Send posts a messages:send request. UNREGISTERED (the token is gone: drop
// it), INVALID_ARGUMENT, SENDER_ID_MISMATCH and other 4xx are permanent;
// QUOTA_EXCEEDED (429, with Retry-After), UNAVAILABLE, INTERNAL, 5xx and
// network failures are temporary. A 401 makes the next call fetch a new
// access token and is temporary.
func (p *Push) Send(ctx context.Context, to Recipient, m Message, idempotencyKey string) error {
	if err := checkSend(ChannelPush, to, &m, idempotencyKey); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	token, err := p.accessToken(ctx)
	if err != nil {
		return err
	}
	data := map[string]string{
		"event":           string(m.Event),
		"idempotency_key": idempotencyKey,
	}
	if m.AlertID > 0 {
		data["alert_id"] = strconv.FormatInt(m.AlertID, 10)
	}
	if m.Severity != "" {
		data["severity"] = string(m.Severity)
	}
	if m.Link != "" {
		data["link"] = m.Link
	}
	wp := &fcmWebpush{Headers: map[string]string{"Topic": pushTopic(idempotencyKey)}}
	if m.Severity == "critical" {
		wp.Headers["Urgency"] = "high"
	}
	// FCM requires an HTTPS link; others still reach the app in data.link.
	if strings.HasPrefix(m.Link, "https://") {
		wp.FCMOptions = &fcmWebpushOpts{Link: m.Link}
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+token)
	res, _, err := postJSON(ctx, p.cfg.HTTPClient, ChannelPush, p.endpoint, hdr, fcmRequest{Message: fcmMessage{
		Token:        to.Address,
		Notification: fcmNotification{Title: m.Title, Body: truncateRunes(m.Text, 1000)},
		Data:         data,
		Webpush:      wp,
	}})
	if err != nil {
		return err
	}
	if res.status/100 == 2 {
		return nil
	}
	var er fcmErrorResponse
	_ = json.Unmarshal(res.body, &er)
	code := er.Error.Status
	for _, d := range er.Error.Details {
		if strings.HasSuffix(d.Type, "google.firebase.fcm.v1.FcmError") && d.ErrorCode != "" {
			code = d.ErrorCode
		}
	}
	cause := fmt.Errorf("messages:send: %s %s", code, er.Error.Message)
	if code == "" {
		cause = fmt.Errorf("messages:send: HTTP %d %s", res.status, snippet(res.body))
	}
	retryAfter := parseRetryAfter(res.header.Get("Retry-After"), p.cfg.Now())
	switch {
	case res.status == http.StatusUnauthorized:
		// The access token was revoked or expired early: forget it.
		p.mu.Lock()
		p.token = nil
		p.mu.Unlock()
		return temporary(ChannelPush, res.status, cause)
	case code == "UNREGISTERED", code == "INVALID_ARGUMENT", code == "SENDER_ID_MISMATCH":
		return permanent(ChannelPush, res.status, cause)
	case code == "QUOTA_EXCEEDED", code == "UNAVAILABLE", code == "INTERNAL":
		return &DeliveryError{Channel: ChannelPush, Status: res.status, RetryAfter: retryAfter, Err: cause}
	}
	return classifyHTTP(ChannelPush, res.status, retryAfter, cause)
}

// pushTopic is the Web Push Topic for a key: at most 32 URL-safe base64
// characters (RFC 8030).
func pushTopic(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:32]
}

// jwtKeyCheck parses the PEM private key the way the JWT signer will.
func jwtKeyCheck(key []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(key)
	if block == nil {
		return nil, errors.New("not PEM encoded")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA key")
		}
		return rk, nil
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}
