package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// TokenSource gives the bearer token for the server's API. Invalidate is
// called after a 401, so the next Token fetches a fresh one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// StaticToken is a TokenSource of one fixed token (an API key, or an
// access token for a short run).
type StaticToken string

// Token implements TokenSource.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// Invalidate implements TokenSource; a static token cannot be renewed.
func (StaticToken) Invalidate() {}

// PasswordLogin is a TokenSource that logs in with an account's e-mail and
// password (POST /api/v1/auth/login) and logs in again when the access
// token expires (15 min). Until the server has gateway API keys this lets
// a gateway run unattended.
type PasswordLogin struct {
	Server, Email, Password string
	// Client defaults to http.DefaultClient.
	Client *http.Client

	mu    sync.Mutex
	token string
}

// Token implements TokenSource.
func (p *PasswordLogin) Token(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" {
		return p.token, nil
	}
	body, _ := json.Marshal(map[string]string{"email": p.Email, "password": p.Password})
	req, err := http.NewRequestWithContext(ctx, "POST", p.Server+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", &errServer{op: "login", err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", &errServer{op: "login as " + p.Email, status: resp.StatusCode}
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("login: no access token in the answer")
	}
	p.token = out.AccessToken
	return p.token, nil
}

// Invalidate implements TokenSource.
func (p *PasswordLogin) Invalidate() {
	p.mu.Lock()
	p.token = ""
	p.mu.Unlock()
}
