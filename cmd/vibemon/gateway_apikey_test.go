package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGatewayUploadsWithAnAPIKeyUntilRevoked: an admin creates an API key,
// `vibemon gateway` runs on it alone (VIBEMON_GATEWAY_API_KEY), its nodes'
// readings reach the server and the completeness route counts them; once
// the admin revokes the key the server answers 401 and the gateway's
// uploads fail.
func TestGatewayUploadsWithAnAPIKeyUntilRevoked(t *testing.T) {
	t.Parallel()
	srv := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	admin := login(t, srv.URL, testAdminEmail, testAdminPassword)
	var key struct {
		ID  int64
		Key string
	}
	if status := admin.do("POST", "/api/v1/api-keys", map[string]string{"name": "gateway 1"}, &key); status != 201 || !strings.HasPrefix(key.Key, "vmk_") {
		t.Fatalf("POST /api-keys: status %d, key %q; want 201 and a vmk_ key", status, key.Key)
	}
	gw := startGatewayCommand(t, map[string]string{"VIBEMON_GATEWAY_API_KEY": key.Key}, "gateway", "--server", srv.URL,
		"--sim-nodes", "1", "--speed", "60", "--interval", "5s", "--physics=false", "--metrics-addr", "127.0.0.1:0",
		"--queue", filepath.Join(t.TempDir(), "gw.db"))

	var dev int64
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var devs struct{ Items []struct{ ID int64 } }
		admin.do("GET", "/api/v1/devices", nil, &devs)
		if len(devs.Items) == 1 {
			dev = devs.Items[0].ID
			var c struct{ Received, Expected int64 }
			from := time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)
			admin.do("GET", fmt.Sprintf("/api/v1/devices/%d/completeness?from=%s", dev, from), nil, &c)
			if c.Received >= 10 {
				if c.Expected < c.Received {
					t.Errorf("completeness: received %d of %d expected", c.Received, c.Expected)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s the gateway with an API key uploaded fewer than 10 readings\n%s", gw.out)
		}
	}

	var keys struct {
		Items []struct {
			ID         int64
			LastUsedAt *time.Time `json:"last_used_at"`
		}
	}
	admin.do("GET", "/api/v1/api-keys", nil, &keys)
	if len(keys.Items) != 1 || keys.Items[0].LastUsedAt == nil {
		t.Errorf("GET /api-keys = %+v, want the key with last_used_at set", keys.Items)
	}

	if status := admin.do("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", key.ID), nil, nil); status != 204 {
		t.Fatalf("DELETE /api-keys/%d: status %d, want 204", key.ID, status)
	}
	revoked := &client{t: t, base: srv.URL, token: key.Key}
	if status := revoked.do("GET", "/api/v1/devices", nil, nil); status != 401 {
		t.Errorf("GET /devices with the revoked key: status %d, want 401", status)
	}
	before := gatewayMetric(t, gw.metricsURL, "vibemon_gateway_upload_errors_total")
	for deadline := time.Now().Add(10 * time.Second); gatewayMetric(t, gw.metricsURL, "vibemon_gateway_upload_errors_total") <= before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's upload errors stayed at %g for 10 s after its key was revoked", before)
		}
	}
}

// gatewayMetric reads one unlabelled sample from a /metrics page.
func gatewayMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s lacks %s", url, name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
