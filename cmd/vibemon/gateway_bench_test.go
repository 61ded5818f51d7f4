package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGatewayThroughput forwards VIBEMON_GATEWAY_BENCH_NODES (default 200)
// nodes at one summary a second each, in real time, for
// VIBEMON_GATEWAY_BENCH_SECONDS (default 30), to a real server in this
// process, and reports the CPU time of the process (getrusage) and
// writes a CPU profile whose goroutines carry pprof labels (component =
// server, nodes, gateway) to VIBEMON_GATEWAY_BENCH_PROFILE. It
// runs only with VIBEMON_GATEWAY_BENCH=1; docs/gateway.md has the numbers.
func TestGatewayThroughput(t *testing.T) {
	if os.Getenv("VIBEMON_GATEWAY_BENCH") == "" {
		t.Skip("set VIBEMON_GATEWAY_BENCH=1 to run the 30 s throughput measurement")
	}
	nodes, secs := 200, 30
	if v, err := strconv.Atoi(os.Getenv("VIBEMON_GATEWAY_BENCH_NODES")); err == nil {
		nodes = v
	}
	if v, err := strconv.Atoi(os.Getenv("VIBEMON_GATEWAY_BENCH_SECONDS")); err == nil {
		secs = v
	}
	physics := os.Getenv("VIBEMON_GATEWAY_BENCH_PHYSICS") != ""
	var srv *program
	pprof.Do(context.Background(), pprof.Labels("component", "server"), func(context.Context) {
		srv = startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	})
	c := login(t, srv.URL, testAdminEmail, testAdminPassword)
	fleet, err := blelink.NewFleet(blelink.FleetConfig{Nodes: nodes, Interval: time.Second, Seed: 1, Physics: physics})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pprof.Do(ctx, pprof.Labels("component", "nodes"), func(ctx context.Context) { fleet.Start(ctx) })
	defer fleet.Stop()
	var q *gateway.Queue
	pprof.Do(ctx, pprof.Labels("component", "gateway"), func(context.Context) {
		q, err = gateway.OpenQueue(filepath.Join(t.TempDir(), "q.db"), gateway.QueueConfig{})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reg := prometheus.NewRegistry()
	g, err := gateway.New(gateway.Config{Central: fleet, Queue: q, Server: srv.URL, Token: c.token, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	pprof.Do(ctx, pprof.Labels("component", "gateway"), func(ctx context.Context) { g.Start(ctx) })
	defer g.Stop()

	// Warm up: every node connected and streaming.
	deadline := time.Now().Add(20 * time.Second)
	for g.Connected() < nodes && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	received0 := gatherValue(t, reg, "vibemon_gateway_readings_received_total")
	uploaded0 := gatherValue(t, reg, "vibemon_gateway_readings_uploaded_total")
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		t.Fatal(err)
	}
	cpu0, wall0 := cpuTime(), time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	pprof.StopCPUProfile()
	received := gatherValue(t, reg, "vibemon_gateway_readings_received_total") - received0
	uploaded := gatherValue(t, reg, "vibemon_gateway_readings_uploaded_total") - uploaded0

	if path := os.Getenv("VIBEMON_GATEWAY_BENCH_PROFILE"); path != "" {
		// go tool pprof -tags PATH splits the CPU by component label.
		if err := os.WriteFile(path, prof.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d nodes, %s: %d connected, %.0f summaries/s received, %.0f/s uploaded, queue depth %d",
		nodes, wall.Round(time.Second), g.Connected(), received/wall.Seconds(), uploaded/wall.Seconds(), q.Depth())
	t.Logf("acks %g, replays %g, bad packets %g, server duplicates %g", gatherValue(t, reg, "vibemon_gateway_acks_total"),
		gatherValue(t, reg, "vibemon_gateway_replays_total"), gatherValue(t, reg, "vibemon_gateway_bad_packets_total"),
		gatherValue(t, reg, "vibemon_gateway_readings_duplicates_total"))
	t.Logf("process CPU (getrusage) %.2f s over %.1f s = %.1f%% of one core", cpu.Seconds(), wall.Seconds(), 100*cpu.Seconds()/wall.Seconds())
	if want := 0.95 * float64(nodes); received/wall.Seconds() < want {
		t.Errorf("received %.0f summaries/s, want >= %.0f", received/wall.Seconds(), want)
	}
}

func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
