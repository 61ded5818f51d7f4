package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon/redis"
)

const benchLatencyUsage = `Usage: vibemon bench latency --database-url postgres://... --redis-url redis://... [flags]

Runs two servers in this process on one scratch PostgreSQL database and one
Redis (as two replicas), posts readings to replica A at a fixed rate from
open-loop senders, and measures, for every reading, the time from its
scheduled send to its arrival on a WebSocket client connected to replica B
(POST, store, publish to Redis, Redis to B, hub, socket). Prints p50, p90,
p99 and max, and how many readings arrived.
`

// runBenchLatency is "vibemon bench latency".
func runBenchLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench latency", "Measure POST -> WebSocket latency across two replicas.", stdout)
	dbURL := fs.String("database-url", "", "PostgreSQL server (a scratch database is created and dropped)")
	redisURL := fs.String("redis-url", "", "Redis server (keys under a random prefix)")
	rate := fs.Int("rate", 20000, "readings per second posted to replica A")
	duration := fs.Duration("duration", 10*time.Second, "how long to post (after a 2 s warm-up)")
	batch := fs.Int("batch", 100, "readings per POST")
	devices := fs.Int("devices", 200, "devices the readings are spread over")
	senders := fs.Int("senders", 8, "concurrent HTTP senders")
	listeners := fs.Int("listeners", 4, "WebSocket clients on replica B, each subscribed to its share of the devices")
	traceFile := fs.String("trace", "", "write a Go execution trace of the whole run to this file (go tool trace)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("bench latency: --trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("bench latency: --trace: %w", err)
		}
		defer trace.Stop()
	}
	if *dbURL == "" || *redisURL == "" {
		fmt.Fprint(stdout, benchLatencyUsage)
		return fmt.Errorf("bench latency: --database-url and --redis-url are required")
	}
	if *rate < 100 || *batch < 1 || *batch > 5000 || *senders < 1 || *listeners < 1 || *devices < *listeners || *duration <= 0 || *duration > 10*time.Minute {
		return fmt.Errorf("bench latency: need --rate >= 100, --batch 1..5000, --senders >= 1, --devices >= --listeners >= 1, 0 < --duration <= 10m")
	}

	admin, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("bench latency: connect to %s: %w", *dbURL, err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("vibemon_bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("bench latency: create a scratch database: %w", err)
	}
	defer admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u, err := url.Parse(*dbURL)
	if err != nil {
		return fmt.Errorf("bench latency: --database-url: %w", err)
	}
	u.Path = "/" + name
	dir, err := os.MkdirTemp("", "vibemon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var rnd [6]byte
	rand.Read(rnd[:])
	prefix := "vibemonbench:" + hex.EncodeToString(rnd[:]) + ":"

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replica := func(roles string) (*app, error) {
		// Through the settings parser, so every setting has its default.
		env := map[string]string{"VIBEMON_ADDR": "127.0.0.1:0", "VIBEMON_DATA_DIR": dir, "VIBEMON_DATABASE_URL": u.String(),
			"VIBEMON_REDIS_URL": *redisURL, "VIBEMON_REDIS_PREFIX": prefix, "VIBEMON_ROLES": roles, "VIBEMON_LOG_LEVEL": "warn",
			"VIBEMON_ADMIN_EMAIL": "bench@vibemon.local", "VIBEMON_ADMIN_PASSWORD": "bench-password"}
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		finish := bindServerFlags(fs, func(k string) string { return env[k] })
		if err := fs.Parse(nil); err != nil {
			return nil, err
		}
		s, err := finish()
		if err != nil {
			return nil, err
		}
		return startApp(ctx, s, io.Discard, stderr)
	}
	a, err := replica("api,ws,worker")
	if err != nil {
		return err
	}
	defer a.wait()
	defer cancel()
	b, err := replica("api,ws")
	if err != nil {
		return err
	}
	defer b.wait()
	ids, err := registerDevices(ctx, a.store, a.admin.User.OrgID, *devices)
	if err != nil {
		return err
	}
	tok, _, err := a.issuer.Issue(a.admin.User)
	if err != nil {
		return err
	}
	token := tok.AccessToken

	// Listeners on B, each subscribed to every listeners-th device.
	var (
		latMu    sync.Mutex
		lats     []time.Duration
		received atomic.Int64
	)
	warmup := 2 * time.Second
	start := time.Now().Add(time.Second) // after the subscriptions
	measureFrom := start.Add(warmup)
	wsBase := strings.Replace(b.url, "http://", "ws://", 1)
	wsBase = strings.Replace(wsBase, "localhost", "127.0.0.1", 1)
	var wg sync.WaitGroup
	for l := range *listeners {
		conn, _, err := websocket.Dial(ctx, wsBase+"ws/telemetry?token="+token, nil)
		if err != nil {
			return fmt.Errorf("bench latency: dial replica B: %w", err)
		}
		conn.SetReadLimit(1 << 20)
		defer conn.CloseNow()
		for i := l; i < len(ids); i += *listeners {
			msg, _ := json.Marshal(map[string]any{"type": "subscribe", "device_id": ids[i]})
			if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
				return err
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			defer func() {
				latMu.Lock()
				lats = append(lats, local...)
				latMu.Unlock()
			}()
			for {
				_, data, err := conn.Read(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				var m struct {
					Type string `json:"type"`
					Data struct {
						TS time.Time `json:"ts"`
					} `json:"data"`
				}
				if json.Unmarshal(data, &m) != nil || m.Type != "reading" {
					continue
				}
				if !m.Data.TS.Before(measureFrom) {
					received.Add(1)
					local = append(local, now.Sub(m.Data.TS))
				}
			}
		}()
	}

	// Open-loop senders: batch k is due at start + k*batch/rate; its
	// readings carry that time, so time spent waiting for a free sender
	// counts as latency.
	total := int((warmup + *duration).Seconds() * float64(*rate) / float64(*batch))
	interval := time.Duration(float64(time.Second) * float64(*batch) / float64(*rate))
	next := atomic.Int64{}
	seq := make([]atomic.Int64, len(ids))
	var sent, postErrs atomic.Int64
	var postMu sync.Mutex
	var postDur []time.Duration
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders}, Timeout: 30 * time.Second}
	var swg sync.WaitGroup
	for range *senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			var body []byte
			for {
				k := int(next.Add(1) - 1)
				if k >= total || ctx.Err() != nil {
					return
				}
				due := start.Add(time.Duration(k) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				body = append(body[:0], `{"readings":[`...)
				ts := due.UTC().Format(time.RFC3339Nano)
				for j := range *batch {
					d := (k**batch + j) % len(ids)
					if j > 0 {
						body = append(body, ',')
					}
					body = append(body, `{"device_id":`...)
					body = strconv.AppendInt(body, ids[d], 10)
					body = append(body, `,"seq":`...)
					body = strconv.AppendInt(body, seq[d].Add(1), 10)
					body = append(body, `,"ts":"`...)
					body = append(body, ts...)
					body = append(body, `","vel_rms_x":1.5,"temp_c":41.5}`...)
				}
				body = append(body, "]}"...)
				req, _ := http.NewRequestWithContext(ctx, "POST", a.url+"api/v1/telemetry", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					postErrs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					postErrs.Add(1)
					continue
				}
				if !due.Before(measureFrom) {
					sent.Add(int64(*batch))
					postMu.Lock()
					postDur = append(postDur, time.Since(t0))
					postMu.Unlock()
				}
			}
		}()
	}
	fmt.Fprintf(stdout, "bench latency: %d readings/s in POSTs of %d to replica A, %d senders, %d devices, %d WebSocket clients on replica B; %v warm-up + %v; load %s\n",
		*rate, *batch, *senders, *devices, *listeners, warmup, *duration, loadAvg())
	swg.Wait()
	postedIn := time.Since(measureFrom)
	// Let the last readings arrive (they are late if they take longer).
	deadline := time.Now().Add(5 * time.Second)
	for received.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if rb, ok := b.bus.(*redis.Bus); ok {
		fmt.Fprintf(stdout, "replica B bus: received %d events, dropped %d, reconnects %d\n", rb.Received(), rb.Dropped(), rb.Reconnects())
	}
	cancel()
	wg.Wait()
	slices.Sort(lats)
	q := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))].Round(10 * time.Microsecond)
	}
	fmt.Fprintf(stdout, "posted %d readings in %.1f s (%.0f/s achieved, %d failed POSTs); %d arrived on B\n",
		sent.Load(), postedIn.Seconds(), float64(sent.Load())/postedIn.Seconds(), postErrs.Load(), len(lats))
	fmt.Fprintf(stdout, "latency POST (scheduled) -> WebSocket on B: p50 %v  p90 %v  p99 %v  max %v\n", q(0.5), q(0.9), q(0.99), q(1))
	lats = postDur
	slices.Sort(lats)
	fmt.Fprintf(stdout, "of which the POST itself (request to response on A): p50 %v  p99 %v\n", q(0.5), q(0.99))
	return nil
}
