package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxResponse bounds how much of a peer's response is read.
const maxResponse = 1 << 20

// defaultTimeout bounds one delivery attempt when a Config leaves it 0.
const defaultTimeout = 10 * time.Second

// newHTTPClient returns the client that senders use when none is injected.
// It does not follow redirects: the APIs never redirect, and a webhook that
// redirects should be configured with its final URL rather than let us be
// steered to another host.
func newHTTPClient() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// postBody sends body with the headers and returns the response. Only a
// transport failure (refused, reset, timeout, cancelled) is an error here, and
// it is temporary; the caller classifies statuses.
func postBody(ctx context.Context, client *http.Client, channel, target string, hdr http.Header, body []byte) (httpResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return httpResult{}, permanent(channel, 0, fmt.Errorf("build request: %w", err))
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL may hold a secret (the Telegram token is part of the
		// path): keep the operation and the cause, never the URL.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return httpResult{}, temporary(channel, 0, fmt.Errorf("post: %w", err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return httpResult{}, temporary(channel, resp.StatusCode, fmt.Errorf("read response: %w", err))
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// postJSON marshals payload and posts it as application/json.
func postJSON(ctx context.Context, client *http.Client, channel, target string, hdr http.Header, payload any) (httpResult, []byte, error) {
	body, err := jsonMarshal(payload)
	if err != nil {
		return httpResult{}, nil, permanent(channel, 0, fmt.Errorf("encode request: %w", err))
	}
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set("Content-Type", "application/json")
	res, err := postBody(ctx, client, channel, target, hdr, body)
	return res, body, err
}

// jsonMarshal is json.Marshal without HTML escaping, so that links and
// text reach receivers as written.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
