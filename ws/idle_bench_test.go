package ws_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serverStats is what the helper server process reports about itself.
type serverStats struct {
	RSSKB      int64  `json:"rss_kb"`     // VmRSS from /proc/self/status
	HeapInuse  uint64 `json:"heap_inuse"` // after a GC
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
	Clients    int    `json:"clients"` // vibemon_ws_clients
}

// TestIdleServerProcess is not a test: it is the server process of
// BenchmarkIdleConnections, run by the benchmark as a child so that the
// server's memory is measured apart from the clients'. It prints the hub's
// and the stats endpoint's URLs and serves until its stdin closes.
func TestIdleServerProcess(t *testing.T) {
	if os.Getenv("VIBEMON_WS_BENCH_SERVER") != "1" {
		t.Skip("the server process of BenchmarkIdleConnections; runs only as its child")
	}
	raiseFileLimit(t)
	e := newEnv(t, nil)
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := serverStats{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine(),
			Clients: gaugeValue(e, "vibemon_ws_clients")}
		if b, err := os.ReadFile("/proc/self/status"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					s.RSSKB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				}
			}
		}
		if p := os.Getenv("VIBEMON_WS_BENCH_HEAPPROFILE"); p != "" {
			if f, err := os.Create(p); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		json.NewEncoder(w).Encode(s)
	}))
	defer stats.Close()
	fmt.Printf("%s %s\n", e.url("/ws/telemetry", ""), stats.URL)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes stdin
}

// gaugeValue reads a gauge from the env's registry.
func gaugeValue(e *env, name string) int {
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}

// raiseFileLimit lifts the soft limit on open files to the hard one: 10,000
// sockets need more than the usual 1024.
func raiseFileLimit(t testing.TB) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkIdleConnections opens 10,000 WebSocket connections (each
// authenticated and subscribed to one device, then idle) to a hub in a child
// process and reports the child's resident memory (VmRSS) and Go heap+stack
// per connection, measured before and after, each after a GC. The clients
// run in this process and are not counted. Set VIBEMON_WS_BENCH_CONNS for
// another count. Run: go test ./ws/ -run '^$' -bench IdleConnections -benchtime 1x
func BenchmarkIdleConnections(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("VIBEMON_WS_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	raiseFileLimit(b)
	for range b.N {
		perConn := idleConnections(b, n)
		b.ReportMetric(perConn.rss, "rss-B/conn")
		b.ReportMetric(perConn.heapStack, "heap+stack-B/conn")
		b.ReportMetric(perConn.goroutines, "goroutines/conn")
		b.ReportMetric(perConn.totalMB, "rss-delta-MB")
	}
}

type idleResult struct{ rss, heapStack, goroutines, totalMB float64 }

func idleConnections(b *testing.B, n int) idleResult {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleServerProcess$")
	cmd.Env = append(os.Environ(), "VIBEMON_WS_BENCH_SERVER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server process: %v", err)
	}
	wsURL, statsURL, _ := strings.Cut(strings.TrimSpace(line), " ")
	stats := func() serverStats {
		resp, err := http.Get(statsURL)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var s serverStats
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			b.Fatal(err)
		}
		return s
	}
	before := stats()

	conns := make([]*websocket.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	token := signToken(1, 101, time.Now().Add(time.Hour))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := openIdle(wsURL+"?token="+token, int64(i%3+1))
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	after := stats()
	if after.Clients != n {
		b.Fatalf("the hub counts %d clients, want %d", after.Clients, n)
	}
	delta := float64(after.RSSKB-before.RSSKB) * 1024
	fmt.Fprintf(os.Stderr, "idle connections: %d; server RSS %d -> %d MB (+%.0f MB), heap %d -> %d MB, stacks %d -> %d MB, goroutines %d -> %d\n",
		n, before.RSSKB>>10, after.RSSKB>>10, delta/(1<<20), before.HeapInuse>>20, after.HeapInuse>>20, before.StackInuse>>20, after.StackInuse>>20,
		before.Goroutines, after.Goroutines)
	return idleResult{
		rss:        delta / float64(n),
		heapStack:  float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(n),
		goroutines: float64(after.Goroutines-before.Goroutines) / float64(n),
		totalMB:    delta / (1 << 20),
	}
}

// openIdle connects, waits for ready, subscribes to device and waits for
// the presence snapshot: after that the connection is idle.
func openIdle(url string, device int64) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	want := func(typ string) error {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil || m.Type != typ {
			return fmt.Errorf("got %s, want %s", data, typ)
		}
		return nil
	}
	if err := want("ready"); err != nil {
		c.CloseNow()
		return nil, err
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"subscribe","device_id":%d}`, device))); err != nil {
		c.CloseNow()
		return nil, err
	}
	if err := want("presence"); err != nil {
		c.CloseNow()
		return nil, err
	}
	return c, nil
}
