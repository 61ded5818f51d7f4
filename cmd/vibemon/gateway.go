package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
	"github.com/vibemon/vibemon/wire"
)

// gatewayFlags are the settings of `vibemon gateway` and `vibemon sim`.
type gatewayFlags struct {
	server, token, apiKey, queue, metricsAddr string
	email, password                           string
	maxQueue                                  int
	simNodes                                  int
	speed                                     float64
	interval                                  time.Duration
	mtu                                       int
	drop, reorder, disconnect                 float64
	physics                                   bool
	seed                                      uint64
	burstEvery                                time.Duration
	burstFrames                               int
	verbose                                   bool
}

func bindGatewayFlags(fs *flag.FlagSet, getenv func(string) string, f *gatewayFlags, nodesFlag string, nodesDefault int) {
	fs.StringVar(&f.server, "server", envOr(getenv, "VIBEMON_GATEWAY_SERVER", "http://localhost:8080"), "VibeMon server base URL (VIBEMON_GATEWAY_SERVER)")
	fs.StringVar(&f.apiKey, "api-key", getenv("VIBEMON_GATEWAY_API_KEY"), "the org's API key, vmk_... (an admin creates one with POST /api/v1/api-keys); the way to run unattended (VIBEMON_GATEWAY_API_KEY)")
	fs.StringVar(&f.token, "token", getenv("VIBEMON_GATEWAY_TOKEN"), "bearer token for the server: an access token or an API key (VIBEMON_GATEWAY_TOKEN)")
	fs.StringVar(&f.email, "email", getenv("VIBEMON_GATEWAY_EMAIL"), "log in as this account instead of --token, and again when the access token expires (VIBEMON_GATEWAY_EMAIL)")
	f.password = getenv("VIBEMON_GATEWAY_PASSWORD")
	fs.StringVar(&f.queue, "queue", envOr(getenv, "VIBEMON_GATEWAY_QUEUE", "vibemon-gateway.db"), "offline queue file, SQLite (VIBEMON_GATEWAY_QUEUE)")
	fs.IntVar(&f.maxQueue, "max-queue", gateway.DefaultMaxReadings, "readings the queue holds before it drops the oldest")
	fs.StringVar(&f.metricsAddr, "metrics-addr", envOr(getenv, "VIBEMON_GATEWAY_METRICS_ADDR", "127.0.0.1:9101"), "serve Prometheus /metrics here; empty: off (VIBEMON_GATEWAY_METRICS_ADDR)")
	fs.IntVar(&f.simNodes, nodesFlag, nodesDefault, "simulated nodes over the in-memory BLE link")
	fs.Float64Var(&f.speed, "speed", 1, "simulated seconds per real second for the simulated nodes (their clock starts at now - (speed-1) x 1 h so readings stay in the past)")
	fs.DurationVar(&f.interval, "interval", time.Minute, "summary interval of the simulated nodes")
	fs.IntVar(&f.mtu, "mtu", 244, "simulated link MTU payload: 244, or 20 to fragment")
	fs.Float64Var(&f.drop, "drop", 0, "simulated link: probability a notification is lost")
	fs.Float64Var(&f.reorder, "reorder", 0, "simulated link: probability a notification is delivered late")
	fs.Float64Var(&f.disconnect, "disconnect", 0, "simulated link: probability the link breaks after a notification")
	fs.BoolVar(&f.physics, "physics", true, "simulated sensors from the signal model (false: a cheap sine)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the simulated nodes and link faults")
	fs.DurationVar(&f.burstEvery, "burst-every", 0, "ask each node for a raw burst this often, on the nodes' clock (0: never); a device's burst_every_s setting on the server wins")
	fs.IntVar(&f.burstFrames, "burst-frames", 4096, "frames per axis of a raw burst; a device's burst_frames setting on the server wins")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
}

// checkSimLink checks the flags of the simulated nodes and their link.
func (f *gatewayFlags) checkSimLink() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"drop", f.drop}, {"reorder", f.reorder}, {"disconnect", f.disconnect}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("gateway: --%s %g is a probability: give 0..1", p.name, p.v)
		}
	}
	switch {
	case f.mtu < wire.MinMTUPayload || f.mtu > wire.MaxPacket:
		return fmt.Errorf("gateway: --mtu %d must be %d..%d bytes (%d: the default ATT MTU, packets fragmented; %d: LE data length extension)",
			f.mtu, wire.MinMTUPayload, wire.MaxPacket, wire.MinMTUPayload, wire.MaxPacket)
	case f.interval < time.Second || f.interval%time.Second != 0:
		return fmt.Errorf("gateway: --interval %s must be a whole number of seconds, at least 1s (a node's summary interval)", f.interval)
	}
	return nil
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func runGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gateway", "Run the BLE gateway: connect to nodes, keep an offline queue, sync to the server.\nWithout --sim-nodes it needs the BlueZ radio (build with -tags bluez).", stdout)
	var f gatewayFlags
	bindGatewayFlags(fs, getenv, &f, "sim-nodes", 0)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return serveGateway(ctx, &f, stdout, stderr)
}

func serveGateway(ctx context.Context, f *gatewayFlags, stdout, stderr io.Writer) error {
	switch {
	case f.apiKey == "" && f.token == "" && f.email == "":
		return errors.New("gateway: no credential: give --api-key (or VIBEMON_GATEWAY_API_KEY), --token (or VIBEMON_GATEWAY_TOKEN), or --email (with VIBEMON_GATEWAY_PASSWORD) to log in with")
	case f.apiKey != "" && (f.token != "" || f.email != ""):
		return errors.New("gateway: --api-key excludes --token and --email; give one credential")
	case f.apiKey != "" && !vibemon.IsAPIKey(f.apiKey):
		return fmt.Errorf("gateway: --api-key must start with %q (an API key from POST /api/v1/api-keys)", vibemon.APIKeyPrefix)
	case f.email != "" && f.password == "":
		return errors.New("gateway: --email needs the password in VIBEMON_GATEWAY_PASSWORD")
	case !strings.HasPrefix(f.server, "http://") && !strings.HasPrefix(f.server, "https://"):
		return fmt.Errorf("gateway: --server %q is not an http(s) URL", f.server)
	case f.speed <= 0:
		return fmt.Errorf("gateway: --speed %g is not positive", f.speed)
	case f.maxQueue <= 0:
		return fmt.Errorf("gateway: --max-queue %d is not positive", f.maxQueue)
	case f.burstEvery < 0:
		return fmt.Errorf("gateway: --burst-every %s is negative", f.burstEvery)
	case f.burstFrames < 256 || f.burstFrames > 65535:
		return fmt.Errorf("gateway: --burst-frames %d must be 256..65535 (the server stores bursts of at least 256 samples)", f.burstFrames)
	case f.simNodes < 0:
		return fmt.Errorf("gateway: %d simulated nodes: give a number >= 1, or none for the radio", f.simNodes)
	}
	if f.simNodes > 0 {
		if err := f.checkSimLink(); err != nil {
			return err
		}
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if dir := filepath.Dir(f.queue); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("gateway: --queue %s: %w", f.queue, err)
		}
	}
	now := time.Now
	var central gateway.Central
	var fleet *blelink.Fleet
	if f.simNodes > 0 {
		clock := blelink.NewClock(time.Now().Add(-time.Duration((f.speed-1)*float64(time.Hour))), f.speed)
		var err error
		fleet, err = blelink.NewFleet(blelink.FleetConfig{Nodes: f.simNodes, Interval: f.interval, Physics: f.physics, Seed: f.seed, Clock: clock,
			Timeouts: simTimeouts(),
			Link:     blelink.LinkConfig{MTU: f.mtu, Drop: f.drop, Reorder: f.reorder, Disconnect: f.disconnect}})
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		central, now = fleet, clock.Now
	} else {
		var err error
		if central, err = gateway.NewRadio(); err != nil {
			return fmt.Errorf("%w; or use --sim-nodes N for simulated nodes", err)
		}
	}
	q, err := gateway.OpenQueue(f.queue, gateway.QueueConfig{MaxReadings: f.maxQueue})
	if err != nil {
		return fmt.Errorf("gateway: --queue: %w", err)
	}
	defer q.Close()
	reg := prometheus.NewRegistry()
	var tokens gateway.TokenSource = gateway.StaticToken(f.token)
	if f.apiKey != "" {
		tokens = gateway.StaticToken(f.apiKey)
	} else if f.email != "" {
		tokens = &gateway.PasswordLogin{Server: strings.TrimSuffix(f.server, "/"), Email: f.email, Password: f.password}
	}
	g, err := gateway.New(gateway.Config{Central: central, Queue: q, Server: f.server, TokenSource: tokens, Now: now, Logger: log,
		Registerer: reg, BurstEvery: f.burstEvery, BurstFrames: f.burstFrames, Seed: f.seed})
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("gateway: --metrics-addr %s: %w", f.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Fprintf(stdout, "gateway metrics at http://%s/metrics\n", ln.Addr())
	}
	if fleet != nil {
		if err := fleet.Start(ctx); err != nil {
			return err
		}
		defer fleet.Stop()
		fmt.Fprintf(stdout, "%d simulated nodes at %gx speed, every %s\n", f.simNodes, f.speed, f.interval)
	}
	if err := g.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gateway syncing to %s, queue %s\n", f.server, f.queue)
	<-ctx.Done()
	g.Stop()
	fmt.Fprintf(stdout, "gateway stopped; %d readings wait in the queue\n", q.Depth())
	return nil
}
