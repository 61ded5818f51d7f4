package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
)

// gwRig is a real server (started through run), simulated nodes on a
// sped-up clock and a gateway between them, all on loopback.
type gwRig struct {
	t        *testing.T
	env      map[string]string
	addr     string
	srv      *program
	c        *client
	clock    *blelink.Clock
	fleet    *blelink.Fleet
	queue    string
	maxQueue int
	q        *gateway.Queue
	gw       *gateway.Gateway
	reg      *prometheus.Registry

	// Every gap the gateway recorded, across restarts (QueueConfig.OnGap):
	// gap rows leave the queue file once sent and acknowledged.
	gapMu  sync.Mutex
	gapLog []gateway.Gap
}

// queueConfig is the rig's queue configuration, logging every gap.
func (r *gwRig) queueConfig() gateway.QueueConfig {
	return gateway.QueueConfig{MaxReadings: r.maxQueue, OnGap: func(g gateway.Gap) {
		r.gapMu.Lock()
		r.gapLog = append(r.gapLog, g)
		r.gapMu.Unlock()
	}}
}

// gaps returns every gap the gateway recorded so far.
func (r *gwRig) gaps() []gateway.Gap {
	r.gapMu.Lock()
	defer r.gapMu.Unlock()
	return slices.Clone(r.gapLog)
}

// freeAddr returns a loopback address nobody listens on, so a restarted
// server keeps its URL.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newGatewayRig starts the server and n nodes (5 s summaries at 60x: 12
// summaries a second each); the gateway is started by startGateway.
func newGatewayRig(t *testing.T, n int, link blelink.LinkConfig, maxQueue int) *gwRig {
	t.Helper()
	return newGatewayRigRing(t, n, link, maxQueue, 0)
}

// newGatewayRigRing is newGatewayRig with nodes of ring capacity ring (0: default).
func newGatewayRigRing(t *testing.T, n int, link blelink.LinkConfig, maxQueue, ring int) *gwRig {
	t.Helper()
	r := &gwRig{t: t, env: map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, addr: freeAddr(t),
		queue: filepath.Join(t.TempDir(), "queue.db"), maxQueue: maxQueue}
	r.startServer()
	r.clock = blelink.NewClock(time.Now().Add(-2*time.Hour), 60)
	var err error
	r.fleet, err = blelink.NewFleet(blelink.FleetConfig{Nodes: n, Interval: 5 * time.Second, Seed: 7, Clock: r.clock, Link: link, RingCapacity: ring,
		Timeouts: fw.Timeouts{Sleep: 20 * time.Second, Reconnect: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.fleet.Stop() })
	return r
}

func (r *gwRig) startServer() {
	r.t.Helper()
	r.srv = startProgram(r.t, r.env, "serve", "--addr", r.addr)
	r.c = login(r.t, r.srv.URL, testAdminEmail, testAdminPassword)
}

func (r *gwRig) startGateway() {
	r.t.Helper()
	q, err := gateway.OpenQueue(r.queue, r.queueConfig())
	if err != nil {
		r.t.Fatal(err)
	}
	r.q, r.reg = q, prometheus.NewRegistry()
	r.gw, err = gateway.New(gateway.Config{Central: r.fleet, Queue: q, Server: "http://" + r.addr, Token: r.c.token,
		ScanEvery: 50 * time.Millisecond, AckEvery: 150 * time.Millisecond, AckGrace: 60 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Now: r.clock.Now, Registerer: r.reg})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.gw.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.stopGateway)
}

// device returns what the queue file records of serial (read from the
// file when the gateway is stopped: stopGateway closed its queue).
func (r *gwRig) device(serial string) gateway.DeviceRecord {
	r.t.Helper()
	q := r.q
	if r.gw == nil {
		var err error
		if q, err = gateway.OpenQueue(r.queue, gateway.QueueConfig{}); err != nil {
			r.t.Fatal(err)
		}
		defer q.Close()
	}
	d, err := q.Device(context.Background(), serial)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *gwRig) stopGateway() {
	if r.gw == nil {
		return
	}
	r.gw.Stop()
	r.q.Close()
	r.gw = nil
}

func (r *gwRig) metric(name string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	r.t.Fatalf("no metric %s", name)
	return 0
}

// serverSeqs returns each device's seqs as GET /devices/{id}/telemetry?bucket=raw
// lists them, by serial.
func (r *gwRig) serverSeqs() map[string][]uint32 {
	r.t.Helper()
	var devs struct {
		Items []struct {
			ID     int64
			Serial string
		}
	}
	if st := r.c.do("GET", "/api/v1/devices", nil, &devs); st != 200 {
		r.t.Fatalf("list devices: status %d", st)
	}
	out := map[string][]uint32{}
	from := time.Now().Add(-4 * time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	for _, d := range devs.Items {
		var res struct {
			Items []struct{ Seq uint32 }
		}
		path := fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=raw&limit=100000&from=%s&to=%s", d.ID, url.QueryEscape(from), url.QueryEscape(to))
		if st := r.c.do("GET", path, nil, &res); st != 200 {
			r.t.Fatalf("GET %s: status %d", path, st)
		}
		for _, it := range res.Items {
			out[d.Serial] = append(out[d.Serial], it.Seq)
		}
	}
	return out
}

// verify turns the faults off and waits until every summary each node
// made up to now is on the server, or recorded as a gap; then it checks
// that no reading is there twice and none is there that no node made.
// It returns the number of summaries checked.
func (r *gwRig) verify(mtu int) (checked int, gaps map[string]map[uint32]bool) {
	r.t.Helper()
	r.fleet.SetLink(blelink.LinkConfig{MTU: mtu})
	want := map[string][]uint32{}
	for _, n := range r.fleet.Nodes() {
		want[n.Serial()] = n.Produced()
		checked += len(want[n.Serial()])
	}
	if checked == 0 {
		r.t.Fatal("the nodes made no summary: nothing to verify")
	}
	gaps = map[string]map[uint32]bool{}
	var got map[string][]uint32
	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, g := range r.gaps() {
			if gaps[g.Serial] == nil {
				gaps[g.Serial] = map[uint32]bool{}
			}
			for k := range g.Count { // a node's loss report covers Count summaries from First
				gaps[g.Serial][g.First+k] = true
			}
		}
		got = r.serverSeqs()
		missing = missing[:0]
		for serial, seqs := range want {
			have := map[uint32]bool{}
			for _, s := range got[serial] {
				have[s] = true
			}
			for _, s := range seqs {
				if !have[s] && !gaps[serial][s] {
					missing = append(missing, fmt.Sprintf("%s/%d", serial, s))
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		r.t.Fatalf("%d of %d summaries never reached the server and are in no gap, e.g. %v", len(missing), checked, missing[:min(10, len(missing))])
	}
	for _, n := range r.fleet.Nodes() {
		made := map[uint32]bool{}
		for _, s := range n.Produced() {
			made[s] = true
		}
		seen := map[uint32]bool{}
		for _, s := range got[n.Serial()] {
			if seen[s] {
				r.t.Errorf("node %s: seq %d is on the server twice", n.Serial(), s)
			}
			if !made[s] {
				r.t.Errorf("node %s: seq %d is on the server but the node never made it", n.Serial(), s)
			}
			if gaps[n.Serial()][s] {
				r.t.Errorf("node %s: seq %d is on the server and also recorded as a gap", n.Serial(), s)
			}
			seen[s] = true
		}
	}
	return checked, gaps
}

// quiesce cuts every node's notifications (the link drops them all), then
// waits until the gateway has nothing left to upload or report and has
// received nothing new for a while: what the server holds is final.
func (r *gwRig) quiesce() {
	r.t.Helper()
	r.fleet.SetLink(blelink.LinkConfig{MTU: 244, Drop: 1})
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	last, calm := -1.0, 0
	for calm < 3 {
		if time.Now().After(deadline) {
			r.t.Fatalf("the gateway did not settle: depth %d", r.q.Depth())
		}
		time.Sleep(100 * time.Millisecond)
		if err := r.q.Flush(ctx); err != nil {
			r.t.Fatal(err)
		}
		un, err := r.q.UnsentGaps(ctx, 1)
		if err != nil {
			r.t.Fatal(err)
		}
		got := r.metric("vibemon_gateway_readings_received_total")
		if r.q.Depth() == 0 && len(un) == 0 && got == last {
			calm++
		} else {
			calm = 0
		}
		last = got
	}
}

// ledger quiesces the rig and checks the server's completeness ledger for
// each node over its whole life: every seq it lost is an explained gap of
// the reason given (each of gaps), none is unexplained, so received +
// explained is 100 %. It returns the explained seqs.
func (r *gwRig) ledger(gaps map[string]map[uint32]bool, reason string) (explained int64) {
	r.t.Helper()
	r.quiesce()
	var devs struct {
		Items []struct {
			ID     int64
			Serial string
		}
	}
	if st := r.c.do("GET", "/api/v1/devices", nil, &devs); st != 200 {
		r.t.Fatalf("list devices: status %d", st)
	}
	// The gaps as the gateway recorded them, now final too.
	all := map[string]map[uint32]bool{}
	for _, g := range r.gaps() {
		if all[g.Serial] == nil {
			all[g.Serial] = map[uint32]bool{}
		}
		for k := range g.Count {
			all[g.Serial][g.First+k] = true
		}
	}
	for serial, g := range gaps {
		for s := range g {
			if !all[serial][s] {
				r.t.Errorf("node %s: gap seq %d seen by verify is no longer in the gateway's record", serial, s)
			}
		}
	}
	got := r.serverSeqs()
	from := url.QueryEscape(time.Now().Add(-6 * time.Hour).UTC().Format(time.RFC3339))
	to := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, d := range devs.Items {
		received, wantExplained := int64(len(got[d.Serial])), int64(len(all[d.Serial]))
		var c vibemon.Completeness
		path := fmt.Sprintf("/api/v1/devices/%d/completeness?from=%s&to=%s", d.ID, from, to)
		if st := r.c.do("GET", path, nil, &c); st != 200 {
			r.t.Fatalf("GET %s: status %d", path, st)
		}
		var lost int64
		for k, v := range c.Lost {
			lost += v
			if k != reason {
				r.t.Errorf("node %s: %d lost for %q, want only %q", d.Serial, v, k, reason)
			}
		}
		if c.Received != received || c.Explained != wantExplained || c.Unexplained != 0 || c.AccountedPercent != 100 ||
			c.Expected != received+wantExplained || lost != wantExplained {
			r.t.Errorf("node %s: completeness %d received, %d explained (%v), %d unexplained of %d expected (%.4g %% accounted for), gaps %v;"+
				" want %d received, %d explained as %s, none unexplained, 100 %%", d.Serial, c.Received, c.Explained, c.Lost, c.Unexplained,
				c.Expected, c.AccountedPercent, c.Gaps, received, wantExplained, reason)
		}
		for _, g := range c.Gaps {
			if g.Reason != reason {
				r.t.Errorf("node %s: gap %+v, want reason %s", d.Serial, g, reason)
			}
		}
		explained += c.Explained
	}
	return explained
}

func TestGatewayKeepsEveryReadingThroughAServerOutage(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	r := newGatewayRig(t, 4, blelink.LinkConfig{}, 0)
	r.startGateway()
	time.Sleep(1500 * time.Millisecond)
	r.srv.Stop(t)
	time.Sleep(2 * time.Second) // the nodes keep measuring, the gateway keeps queueing
	if d := r.metric("vibemon_gateway_queue_depth"); d < 40 {
		t.Errorf("queue depth %g while the server is down for 2 s, want >= 40 (4 nodes x 12 a second)", d)
	}
	r.startServer()
	n, _ := r.verify(244)
	if e := r.metric("vibemon_gateway_upload_errors_total"); e == 0 {
		t.Errorf("upload errors 0 with the server down for 2 s")
	}
	if n < 4*30 {
		t.Errorf("only %d summaries made in ~4 s, want >= 120", n)
	}
	// Nothing was lost: the ledger says 100 % received, no gap at all
	// (summaries are numbered densely; statuses and events take no seq).
	if e := r.ledger(nil, "none"); e != 0 {
		t.Errorf("%d explained losses in a run that lost nothing", e)
	}
}

func TestGatewayRestartedOnTheSameQueueLosesNothing(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	r := newGatewayRig(t, 3, blelink.LinkConfig{}, 0)
	r.startGateway()
	time.Sleep(1 * time.Second)
	r.srv.Stop(t) // so the queue holds readings when the gateway stops
	time.Sleep(500 * time.Millisecond)
	r.stopGateway()
	time.Sleep(1 * time.Second) // the nodes buffer in their rings
	r.startServer()
	r.startGateway()
	r.verify(244)
	if r.metric("vibemon_gateway_readings_uploaded_total") == 0 {
		t.Errorf("the restarted gateway uploaded nothing")
	}
}

func TestGatewayOverALossyReorderingLink(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	for _, tt := range []struct {
		name string
		link blelink.LinkConfig
	}{
		{"drop 10%, reorder, delay and disconnect at MTU 244", blelink.LinkConfig{Drop: 0.1, Reorder: 0.1, Delay: 2 * time.Millisecond, Disconnect: 0.005}},
		{"drop and disconnect at MTU 20 (fragments)", blelink.LinkConfig{MTU: 20, Drop: 0.01, Disconnect: 0.003}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newGatewayRig(t, 3, tt.link, 0)
			r.startGateway()
			time.Sleep(3 * time.Second)
			mtu := tt.link.MTU
			if mtu == 0 {
				mtu = 244
			}
			n, _ := r.verify(mtu)
			st := r.fleet.Stats()
			t.Logf("%d summaries; link faults %+v; gateway acks %g, replays %g, bad packets %g", n, st,
				r.metric("vibemon_gateway_acks_total"), r.metric("vibemon_gateway_replays_total"), r.metric("vibemon_gateway_bad_packets_total"))
			if st.Dropped == 0 || st.Disconnects == 0 {
				t.Errorf("link faults %+v: the test injected no drops or disconnects", st)
			}
			if r.metric("vibemon_gateway_acks_total") == 0 {
				t.Errorf("the gateway never acknowledged: the nodes would replay everything forever")
			}
		})
	}
}

func TestGatewayQueueBoundDropsOldestAndCountsThem(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	const bound = 25
	r := newGatewayRig(t, 2, blelink.LinkConfig{}, bound)
	r.srv.Stop(t)
	r.startGateway()
	// Summaries pile up in a queue of 25 until the oldest are dropped.
	for deadline := time.Now().Add(30 * time.Second); r.metric("vibemon_gateway_queue_dropped_total") < 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the queue of %d dropped fewer than 10 summaries in 30 s with the server down", bound)
		}
	}
	// The bound may be exceeded by what arrives during one upload attempt.
	if d := r.metric("vibemon_gateway_queue_depth"); d > 2*bound {
		t.Errorf("queue depth %g far over its bound %d", d, bound)
	}
	r.startServer()
	_, gaps := r.verify(244)
	dropped := r.metric("vibemon_gateway_queue_dropped_total")
	var gapN int
	for _, g := range gaps {
		gapN += len(g)
	}
	if dropped == 0 || float64(gapN) != dropped {
		t.Errorf("dropped metric %g, gaps recorded %d; want equal and > 0", dropped, gapN)
	}
	// Drop oldest: every dropped seq is older than every uploaded one of its node.
	got := r.serverSeqs()
	for serial, g := range gaps {
		lowest := uint32(1 << 31)
		for _, s := range got[serial] {
			lowest = min(lowest, s)
		}
		for s := range g {
			if s > lowest {
				t.Errorf("node %s: seq %d dropped while older seq %d was kept", serial, s, lowest)
				break
			}
		}
	}
	// The server's ledger explains exactly the dropped readings as queue_full.
	// (ledger compares with the queue's final gaps: a few more may be dropped
	// right after the restart.)
	if e := r.ledger(gaps, "queue_full"); e < int64(gapN) {
		t.Errorf("the server explains %d losses, the gateway dropped %d", e, gapN)
	}
}

func TestGatewayCommandForwardsSimulatedNodes(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	srv := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, srv.URL, testAdminEmail, testAdminPassword)
	gw := startGatewayCommand(t, map[string]string{"VIBEMON_GATEWAY_EMAIL": testAdminEmail, "VIBEMON_GATEWAY_PASSWORD": testAdminPassword}, "gateway", "--server", srv.URL,
		"--sim-nodes", "2", "--speed", "60", "--interval", "5s", "--physics=false", "--metrics-addr", "127.0.0.1:0",
		"--queue", filepath.Join(t.TempDir(), "gw.db"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var devs struct{ Items []struct{ ID int64 } }
		c.do("GET", "/api/v1/devices", nil, &devs)
		total := 0
		for _, d := range devs.Items {
			var res struct{ Items []struct{ Seq uint32 } }
			from := time.Now().Add(-70 * time.Hour).UTC().Format(time.RFC3339)
			c.do("GET", fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=raw&limit=100000&from=%s", d.ID, url.QueryEscape(from)), nil, &res)
			total += len(res.Items)
		}
		if len(devs.Items) == 2 && total >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s: %d devices, %d readings on the server; want 2 devices and >= 20 readings\n%s", len(devs.Items), total, gw.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get(gw.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "vibemon_gateway_readings_uploaded_total") {
		t.Errorf("%s lacks vibemon_gateway_readings_uploaded_total", gw.metricsURL)
	}
}

func TestGatewayCommandWithoutTokenOrRadioSaysSo(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gateway", "--sim-nodes", "1"}, "--token"},
		{[]string{"gateway", "--sim-nodes", "1"}, "--api-key"},
		{[]string{"gateway", "--api-key", "not-a-key"}, "vmk_"},
		{[]string{"gateway", "--api-key", "vmk_x", "--token", "y"}, "one credential"},
		{[]string{"gateway", "--token", "x", "--metrics-addr", ""}, "bluez"},
		{[]string{"sim", "--token", "x", "--gateway", "ble"}, "inproc"},
		{[]string{"sim", "--token", "x", "--nodes", "-3"}, "--nodes -3"},
		{[]string{"gateway", "--token", "x", "--sim-nodes", "-3"}, "-3 simulated nodes"},
		{[]string{"sim", "--token", "x", "--drop", "2"}, "--drop 2 is a probability"},
		{[]string{"sim", "--token", "x", "--reorder", "-0.1"}, "--reorder -0.1"},
		{[]string{"sim", "--token", "x", "--disconnect", "NaN"}, "--disconnect NaN"},
		{[]string{"sim", "--token", "x", "--mtu", "5"}, "--mtu 5 must be 20..244"},
		{[]string{"sim", "--token", "x", "--interval", "1500ms"}, "--interval 1.5s"},
	} {
		err := run(context.Background(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("vibemon %v: error %v, want one naming %q", tt.args, err, tt.want)
		}
	}
}

type gatewayCommand struct {
	out        *syncBuffer
	metricsURL string
}

// startGatewayCommand runs `vibemon gateway ...` through run until the test ends.
func startGatewayCommand(t *testing.T, env map[string]string, args ...string) *gatewayCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayCommand{out: &syncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, g.out, g.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vibemon gateway: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("vibemon gateway did not stop within 10 s")
		}
	})
	re := regexp.MustCompile(`metrics at (http://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(g.out.String()); m != nil {
			g.metricsURL = m[1]
			return g
		}
	}
	t.Fatalf("vibemon gateway printed no metrics address:\n%s", g.out)
	return nil
}

func TestGatewayForwardsRawBursts(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	r := newGatewayRig(t, 1, blelink.LinkConfig{MTU: 20}, 0)
	q, err := gateway.OpenQueue(r.queue, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reg := prometheus.NewRegistry()
	g, err := gateway.New(gateway.Config{Central: r.fleet, Queue: q, Server: "http://" + r.addr, Token: r.c.token,
		ScanEvery: 50 * time.Millisecond, BurstEvery: 500 * time.Millisecond, BurstFrames: 1024, Now: r.clock.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	defer g.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var devs struct{ Items []struct{ ID int64 } }
		r.c.do("GET", "/api/v1/devices", nil, &devs)
		if len(devs.Items) == 1 {
			var ws struct {
				Items []struct {
					Samples, Axes int
					SampleRateHz  float64 `json:"sample_rate_hz"`
				}
			}
			from := time.Now().Add(-4 * time.Hour).UTC().Format(time.RFC3339)
			r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d/waveforms?from=%s", devs.Items[0].ID, url.QueryEscape(from)), nil, &ws)
			if len(ws.Items) > 0 {
				w := ws.Items[0]
				if w.Samples != 1024 || w.Axes != 3 || w.SampleRateHz != 1000 {
					t.Errorf("waveform %+v, want 1024 samples, 3 axes, 1000 Hz", w)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no waveform on the server after 20 s (bursts of 1024 frames every 0.5 s over MTU 20)")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestGatewayStampsSummariesMeasuredBeforeTheClockWasSet(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	r := newGatewayRig(t, 2, blelink.LinkConfig{}, 0)
	time.Sleep(time.Second) // ~12 summaries each, stamped with uptime: no central has set the clock yet
	gwStart := r.clock.Now()
	r.startGateway()
	time.Sleep(500 * time.Millisecond)
	_, gaps := r.verify(244)
	if len(gaps) != 0 {
		t.Fatalf("gaps %v: summaries measured before the clock was set were rejected", gaps)
	}
	var devs struct {
		Items []struct {
			ID     int64
			Serial string
		}
	}
	r.c.do("GET", "/api/v1/devices", nil, &devs)
	for _, d := range devs.Items {
		var res struct {
			Items []struct {
				TS  time.Time
				Seq uint32
			}
		}
		from := time.Now().Add(-4 * time.Hour).UTC().Format(time.RFC3339)
		r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=raw&limit=100000&from=%s", d.ID, url.QueryEscape(from)), nil, &res)
		if len(res.Items) < 10 {
			t.Fatalf("device %d: %d readings, want >= 10", d.ID, len(res.Items))
		}
		// Each reading carries the time it was measured: the node stamped
		// it with its uptime, the gateway added the boot time it learnt
		// from a status (1 s resolution). The simulated node knows when
		// it measured each one.
		node := r.nodeBySerial(t, d.Serial)
		for i, it := range res.Items {
			measured, ok := node.MeasuredAt(it.Seq)
			if !ok {
				t.Fatalf("device %d reading %d: seq %d was never made by the node", d.ID, i, it.Seq)
			}
			if diff := measured.Sub(it.TS); diff < -2*time.Second || diff > 2*time.Second {
				t.Errorf("device %d reading %d (seq %d) at %s, but measured at %s", d.ID, i, it.Seq, it.TS.Format(time.RFC3339Nano), measured.Format(time.RFC3339Nano))
				break
			}
		}
		if first := res.Items[0]; first.Seq != 0 || !first.TS.Before(gwStart) {
			t.Errorf("device %d: first reading seq %d at %s, gateway started at %s: the summaries measured before the clock was set are missing or restamped",
				d.ID, first.Seq, first.TS.Format(time.RFC3339Nano), gwStart.Format(time.RFC3339Nano))
		}
	}
}

// nodeBySerial returns the simulated node the server knows by serial.
func (r *gwRig) nodeBySerial(t *testing.T, serial string) *blelink.SimNode {
	t.Helper()
	for _, n := range r.fleet.Nodes() {
		if n.Serial() == serial {
			return n
		}
	}
	t.Fatalf("the server has device %q, which no simulated node is", serial)
	return nil
}

// expiringToken hands out a token the server refuses first, as an expired
// access token would be, then PasswordLogin's.
type expiringToken struct {
	*gateway.PasswordLogin
	mu          sync.Mutex
	handedBad   bool
	invalidated int
}

func (e *expiringToken) Token(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.handedBad {
		e.handedBad = true
		return "expired.jwt.token", nil
	}
	return e.PasswordLogin.Token(ctx)
}

func (e *expiringToken) Invalidate() {
	e.mu.Lock()
	e.invalidated++
	e.mu.Unlock()
	e.PasswordLogin.Invalidate()
}

func TestGatewayLogsInAgainAfterA401(t *testing.T) {
	t.Parallel() // each test has its own server, nodes and gateway; they mostly wait
	r := newGatewayRig(t, 1, blelink.LinkConfig{}, 0)
	q, err := gateway.OpenQueue(r.queue, gateway.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tokens := &expiringToken{PasswordLogin: &gateway.PasswordLogin{Server: "http://" + r.addr, Email: testAdminEmail, Password: testAdminPassword}}
	reg := prometheus.NewRegistry()
	g, err := gateway.New(gateway.Config{Central: r.fleet, Queue: q, Server: "http://" + r.addr, TokenSource: tokens,
		ScanEvery: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Now: r.clock.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	defer g.Stop()
	r.q, r.reg = q, reg
	time.Sleep(time.Second)
	r.verify(244)
	tokens.mu.Lock()
	invalidated := tokens.invalidated
	tokens.mu.Unlock()
	if invalidated == 0 || r.metric("vibemon_gateway_upload_errors_total") == 0 {
		t.Errorf("invalidated %d times, %g upload errors; want the 401 seen and the token renewed", invalidated, r.metric("vibemon_gateway_upload_errors_total"))
	}
}

func TestGatewayRecordsWhatANodeLostToRingOverflow(t *testing.T) {
	t.Parallel()
	const ring = 10
	r := newGatewayRigRing(t, 2, blelink.LinkConfig{}, 0, ring)
	// 24 summaries each into rings of 10, no gateway yet: each loses 14.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		made := 24
		for _, n := range r.fleet.Nodes() {
			made = min(made, len(n.Produced()))
		}
		if made >= 24 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes made fewer than 24 summaries in 30 s")
		}
	}
	r.startGateway()
	time.Sleep(500 * time.Millisecond)
	n, gaps := r.verify(244)
	lost := r.metric("vibemon_gateway_node_lost_total")
	var gapN int
	for _, g := range gaps {
		gapN += len(g)
	}
	if lost < 2*10 || float64(gapN) != lost {
		t.Errorf("%d summaries made; node_lost_total %g, gap seqs %d; want >= 20 and equal", n, lost, gapN)
	}
	// The server's ledger explains exactly the overwritten summaries.
	if e := r.ledger(gaps, "node_ring_overflow"); e != int64(gapN) {
		t.Errorf("the server explains %d losses, the nodes reported %d", e, gapN)
	}
}

// TestGatewayInfersLossesWhoseReportWasLost: a node the gateway already
// acknowledged overflows its ring of 10 while the gateway is away, and
// the radio drops its EventDataLost (the first notification after the
// reconnect). Summaries being numbered densely, the gateway's next
// acknowledgement finds the seqs it has no trace of and records them as
// node_ring_overflow gaps; the server explains them all.
func TestGatewayInfersLossesWhoseReportWasLost(t *testing.T) {
	t.Parallel()
	r := newGatewayRigRing(t, 1, blelink.LinkConfig{}, 0, 10)
	serial := r.fleet.Nodes()[0].Serial()
	r.startGateway()
	for deadline := time.Now().Add(20 * time.Second); r.device(serial).Acked == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never acknowledged the node")
		}
	}
	r.stopGateway()
	// While the gateway is away the node makes 20 summaries more than it
	// had when the gateway stopped: its ring of 10 overflows by 10 or more.
	made := len(r.fleet.Nodes()[0].Produced())
	for deadline := time.Now().Add(60 * time.Second); len(r.fleet.Nodes()[0].Produced()) < made+20; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the node made %d summaries in 60 s, want 20", len(r.fleet.Nodes()[0].Produced())-made)
		}
	}
	r.fleet.SetLink(blelink.LinkConfig{DropEvents: true})
	before := r.fleet.Stats().Dropped
	ackedBefore := r.device(serial).Acked
	r.startGateway()
	// Only events are lost. The node sends its pending events before its
	// summaries, so once the gateway acknowledged a summary of the new
	// session, the loss report went out (and was lost). Restoring the link
	// at the first lost event instead could let the report through when
	// another event (a clock set) went first, as under load it did.
	for deadline := time.Now().Add(20 * time.Second); r.fleet.Stats().Dropped == before || r.device(serial).Acked <= ackedBefore; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after reconnecting: %d events lost, acknowledged up to %d (was %d); want an event lost and a new summary acknowledged",
				r.fleet.Stats().Dropped-before, r.device(serial).Acked, ackedBefore)
		}
	}
	r.fleet.SetLink(blelink.LinkConfig{})
	_, gaps := r.verify(244)
	if lost := r.metric("vibemon_gateway_node_lost_total"); lost != 0 {
		t.Fatalf("node_lost_total %g: the loss report was not dropped, nothing to infer", lost)
	}
	if n := len(gaps[serial]); n < 5 {
		t.Errorf("%d seqs recorded lost, want the ring's overflow (>= 5)", n)
	}
	if e := r.ledger(gaps, "node_ring_overflow"); e < int64(len(gaps[serial])) {
		t.Errorf("the server explains %d losses, the gateway inferred %d", e, len(gaps[serial]))
	}
}
