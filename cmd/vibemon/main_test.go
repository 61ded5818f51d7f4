package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon/logtest"
)

// syncBuffer is a log sink goroutines may write to while the test reads.
type syncBuffer = logtest.Buffer

// program is a running vibemon started through run, as main would.
type program struct {
	URL    string
	Stdout *syncBuffer
	Stderr *syncBuffer // the log
	cancel context.CancelFunc
	done   chan error
}

const (
	testAdminEmail    = "admin@example.com"
	testAdminPassword = "correct horse battery"
)

// startProgram runs `vibemon args...` with the environment env (plus a
// known first admin) and waits until it serves /healthz.
func startProgram(t *testing.T, env map[string]string, args ...string) *program {
	t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "VIBEMON_ADMIN_EMAIL":
			return testAdminEmail
		case "VIBEMON_ADMIN_PASSWORD":
			return testAdminPassword
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &program{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	stderr := p.Stderr
	go func() { p.done <- run(ctx, args, getenv, p.Stdout, stderr) }()
	re := regexp.MustCompile(`running at (http://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.Stdout.String()); m != nil {
			p.URL = strings.TrimSuffix(m[1], "/")
			break
		}
		select {
		case err := <-p.done:
			t.Fatalf("vibemon %v exited before serving: %v\nstdout:\n%s\nstderr:\n%s", args, err, p.Stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if p.URL == "" {
		cancel()
		t.Fatalf("vibemon %v printed no URL within 20 s\nstdout:\n%s\nstderr:\n%s", args, p.Stdout, stderr)
	}
	t.Cleanup(func() { p.Stop(t) })
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/healthz did not answer 200 within 20 s", p.URL)
	return nil
}

// Stop ends the program and waits for a clean exit; safe twice.
func (p *program) Stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("vibemon exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("vibemon did not stop within 15 s of its context ending")
	}
}

// client is a logged-in API client.
type client struct {
	t     *testing.T
	base  string
	token string
}

func login(t *testing.T, base, email, password string) *client {
	t.Helper()
	c := &client{t: t, base: base}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &out); status != 200 {
		t.Fatalf("login as %s: status %d", email, status)
	}
	c.token = out.AccessToken
	return c
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil),
// returning the status.
func (c *client) do(method, path string, in, out any) int {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: status %d, body %q is not the JSON expected: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func TestServeStoresTelemetryAndKeepsItAcrossRestarts(t *testing.T) {
	serveStoresTelemetry(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()})
}

// TestServeOnPostgreSQL runs the same scenario with VIBEMON_DATABASE_URL
// pointing at a fresh database of the test PostgreSQL server.
func TestServeOnPostgreSQL(t *testing.T) {
	serveStoresTelemetry(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_DATABASE_URL": freshPostgres(t, "e2e")})
}

func serveStoresTelemetry(t *testing.T, env map[string]string) {
	p := startProgram(t, env, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	var asset struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Cooling pump", "type": "pump", "rpm": 2950, "iso_group": 2, "foundation": "rigid", "bearing": "6205"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}
	var dev struct{ ID int64 }
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:01", "name": "DE bearing", "asset_id": asset.ID}, &dev); st != 201 {
		t.Fatalf("register device: status %d", st)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var readings []map[string]any
	for i := 0; i < 120; i++ {
		readings = append(readings, map[string]any{"device_id": dev.ID, "seq": i, "ts": now.Add(time.Duration(i-120) * time.Second).Format(time.RFC3339), "vel_rms_x": 1 + float64(i)/100, "temp_c": 40})
	}
	var res struct{ Accepted, Duplicates int }
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": readings}, &res); st != 200 || res.Accepted != 120 {
		t.Fatalf("ingest: status %d, %+v; want 200 with 120 accepted", st, res)
	}
	p.Stop(t)

	// Same data dir, new process: the data, the admin and the token key are still there.
	p2 := startProgram(t, env, "serve", "--addr", "127.0.0.1:0")
	c2 := login(t, p2.URL, testAdminEmail, testAdminPassword)
	if st := c2.do("POST", "/api/v1/telemetry", map[string]any{"readings": readings}, &res); st != 200 || res.Duplicates != 120 || res.Accepted != 0 {
		t.Fatalf("re-sent batch after restart: status %d, %+v; want all 120 duplicates", st, res)
	}
	var series struct {
		Items []struct {
			Count int64
			Avg   map[string]*float64
		}
	}
	path := fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=1h&from=%s&to=%s&metrics=vel_rms_x", dev.ID, now.Add(-3*time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	if st := c2.do("GET", path, nil, &series); st != 200 {
		t.Fatalf("query: status %d", st)
	}
	var n int64
	for _, it := range series.Items {
		n += it.Count
	}
	if n != 120 {
		t.Fatalf("hourly buckets count %d readings, want 120", n)
	}
}

func TestWrongSettingStopsWithOneLineNamingIt(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad addr", []string{"serve", "--addr", "nonsense"}, nil, "--addr / VIBEMON_ADDR"},
		{"bad addr from env", []string{"serve"}, map[string]string{"VIBEMON_ADDR": "8080"}, "VIBEMON_ADDR"},
		{"unknown role", []string{"serve", "--roles", "api,cook"}, nil, "--roles"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, nil, "--log-level"},
		{"database url not postgres", []string{"serve"}, map[string]string{"VIBEMON_DATABASE_URL": "mysql://x"}, "VIBEMON_DATABASE_URL"},
		{"timescaledb neither auto nor off", []string{"serve"}, map[string]string{"VIBEMON_TIMESCALEDB": "yes"}, "VIBEMON_TIMESCALEDB"},
		{"compress days zero", []string{"serve"}, map[string]string{"VIBEMON_TIMESCALEDB_COMPRESS_DAYS": "0"}, "VIBEMON_TIMESCALEDB_COMPRESS_DAYS"},
		{"compress days with unit", []string{"serve"}, map[string]string{"VIBEMON_TIMESCALEDB_COMPRESS_DAYS": "7d"}, "VIBEMON_TIMESCALEDB_COMPRESS_DAYS"},
		{"aggregates unknown", []string{"serve"}, map[string]string{"VIBEMON_TIMESCALEDB_AGGREGATES": "caggs"}, "VIBEMON_TIMESCALEDB_AGGREGATES"},
		{"blob url not s3", []string{"serve"}, map[string]string{"VIBEMON_BLOB_URL": "minio://firmware"}, "VIBEMON_BLOB_URL"},
		{"blob url bucket name", []string{"serve"}, map[string]string{"VIBEMON_BLOB_URL": "s3://Firmware_Images"}, "VIBEMON_BLOB_URL"},
		{"blob storage down", []string{"serve"}, map[string]string{"VIBEMON_BLOB_URL": "s3://firmware?endpoint=127.0.0.1:1&tls=false"}, "VIBEMON_BLOB_URL"},
		{"redis prefix with a space", []string{"serve"}, map[string]string{"VIBEMON_REDIS_PREFIX": "plant 2:"}, "VIBEMON_REDIS_PREFIX"},
		{"redis prefix with a glob", []string{"serve"}, map[string]string{"VIBEMON_REDIS_PREFIX": "vibe*"}, "VIBEMON_REDIS_PREFIX"},
		{"short admin password", []string{"serve"}, map[string]string{"VIBEMON_ADMIN_PASSWORD": "short"}, "VIBEMON_ADMIN_PASSWORD"},
		{"public url without scheme", []string{"serve"}, map[string]string{"VIBEMON_PUBLIC_URL": "vibemon.plant.example"}, "VIBEMON_PUBLIC_URL"},
		{"smtp url without from", []string{"serve"}, map[string]string{"VIBEMON_SMTP_URL": "smtp://mail.plant.example:587"}, "VIBEMON_SMTP_URL"},
		{"smtp url scheme", []string{"serve"}, map[string]string{"VIBEMON_SMTP_URL": "http://mail.plant.example", "VIBEMON_SMTP_FROM": "a@b.example"}, "VIBEMON_SMTP_URL"},
		{"smtp from", []string{"serve"}, map[string]string{"VIBEMON_SMTP_URL": "smtp://mail.plant.example:587", "VIBEMON_SMTP_FROM": "not an address"}, "VIBEMON_SMTP_FROM"},
		{"telegram token", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "no-colon"}, "VIBEMON_TELEGRAM_TOKEN"},
		{"telegram api url", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_API_URL": "localhost:8081"}, "VIBEMON_TELEGRAM_API_URL"},
		{"telegram bot", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_BOT": "a b"}, "VIBEMON_TELEGRAM_BOT"},
		{"telegram webhook secret alphabet", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_WEBHOOK_SECRET": "pass word"}, "VIBEMON_TELEGRAM_WEBHOOK_SECRET"},
		{"telegram webhook secret length", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_WEBHOOK_SECRET": strings.Repeat("s", 257)}, "VIBEMON_TELEGRAM_WEBHOOK_SECRET"},
		{"telegram webhook secret line break", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_WEBHOOK_SECRET": "abc\ndef"}, "VIBEMON_TELEGRAM_WEBHOOK_SECRET"},
		{"telegram webhook secret too short", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_TOKEN": "1:abc", "VIBEMON_TELEGRAM_WEBHOOK_SECRET": "short_secret-15"}, "VIBEMON_TELEGRAM_WEBHOOK_SECRET"},
		{"telegram webhook secret without token", []string{"serve"}, map[string]string{"VIBEMON_TELEGRAM_WEBHOOK_SECRET": "good_secret-0123456789"}, "VIBEMON_TELEGRAM_WEBHOOK_SECRET"},
		{"fcm key missing", []string{"serve"}, map[string]string{"VIBEMON_FCM_CREDENTIALS": "/nonexistent/fcm.json"}, "VIBEMON_FCM_CREDENTIALS"},
		{"fcm url", []string{"serve"}, map[string]string{"VIBEMON_FCM_URL": "ftp://fcm"}, "VIBEMON_FCM_URL"},
		{"demo devices", []string{"demo", "--devices", "0"}, nil, "--devices"},
		{"demo speed", []string{"demo", "--speed", "-1"}, nil, "--speed"},
		{"unknown flag", []string{"serve", "--colour", "red"}, nil, "colour"},
		{"unknown command", []string{"launch"}, nil, "unknown command"},
		{"port in use", []string{"serve", "--addr", "PORT_IN_USE"}, nil, "pick another"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}
			if len(tc.args) > 2 && tc.args[2] == "PORT_IN_USE" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				tc.args = []string{"serve", "--addr", ln.Addr().String()}
			}
			for k, v := range tc.env {
				env[k] = v
			}
			var out bytes.Buffer
			err := run(context.Background(), tc.args, func(k string) string { return env[k] }, &out, &out)
			if err == nil {
				t.Fatalf("run %v: got no error, want one naming %s", tc.args, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("run %v: error %q, want one line naming %s", tc.args, msg, tc.want)
			}
		})
	}
}

func TestHelpPrintsFlagsAndExitsCleanly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"serve"}, "-data-dir"},
		{[]string{"demo"}, "-data-dir"},
		{[]string{"gateway"}, "-server"},
		{[]string{"sim"}, "-nodes"},
		{[]string{"migrate"}, "-from"},
		{[]string{"analyze"}, "-bearing-geometry"},
		{[]string{"bench", "ingest"}, "-clients"},
		{[]string{"bench", "latency"}, "-rate"},
	} {
		var out bytes.Buffer
		args := append(tc.args, "--help")
		if err := run(context.Background(), args, os.Getenv, &out, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		// Usage once: the flag package prints it on -h by itself.
		if n := strings.Count(out.String(), "Usage:"); n != 1 || !strings.Contains(out.String(), tc.flag) {
			t.Errorf("%v printed the usage %d times, want once with %s:\n%s", args, n, tc.flag, out.String())
		}
	}
}

// A wrong notification setting names itself but never prints the SMTP
// password or the bot token.
func TestNotificationSettingErrorsHideSecrets(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"smtp":             {"VIBEMON_SMTP_URL": "smtp://alerts:s3cretpw@mail.plant.example:99999999?from=a@b.example"},
		"fcm":              {"VIBEMON_FCM_CREDENTIALS": "/nonexistent/s3cretpw.json", "VIBEMON_TELEGRAM_TOKEN": "12345:s3cretpwTOKEN"},
		"telegram webhook": {"VIBEMON_TELEGRAM_TOKEN": "12345:s3cretpwTOKEN", "VIBEMON_TELEGRAM_WEBHOOK_SECRET": "s3cretpw+HOOK"},
	} {
		t.Run(name, func(t *testing.T) {
			env["VIBEMON_DATA_DIR"] = t.TempDir()
			var out bytes.Buffer
			err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &out)
			if err == nil || strings.Contains(err.Error(), "s3cretpwTOKEN") || (name != "fcm" && strings.Contains(err.Error(), "s3cretpw")) ||
				strings.Contains(out.String(), "s3cretpw+HOOK") {
				t.Errorf("error = %v, want one that hides the secret", err)
			}
		})
	}
}
