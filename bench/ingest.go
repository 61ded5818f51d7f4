package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/sim"
)

// Rows returns n readings spread over devices (ids from deviceIDs) with all
// metrics set, one second apart per device, ending near now, with sequence
// numbers starting at seq0. Values have 7 significant digits, as gateways
// send them (gateway/queue.go formats each with %.7g).
func Rows(deviceIDs []int64, n int, seq0 int64, now time.Time, seed uint64) []vibemon.Reading {
	rng := rand.New(rand.NewPCG(seed, 7))
	per := (n + len(deviceIDs) - 1) / len(deviceIDs)
	rows := make([]vibemon.Reading, 0, n)
	for i := 0; len(rows) < n; i++ {
		dev := deviceIDs[i%len(deviceIDs)]
		k := i / len(deviceIDs)
		r := vibemon.NewReading(dev, seq0+int64(k), now.Add(-time.Duration(per-k)*time.Second))
		for m := range r.Values {
			lo, hi := vibemon.Metric(m).Range()
			if lo < 0 {
				lo = hi / 2
			}
			r.Values[m], _ = strconv.ParseFloat(strconv.FormatFloat(lo+(hi-lo)*0.05*rng.Float64(), 'g', 7, 64), 64)
		}
		rows = append(rows, r)
	}
	return rows
}

// Result is one measured run.
type Result struct {
	Name     string
	Readings int
	Elapsed  time.Duration
}

// PerSecond returns readings per second.
func (r Result) PerSecond() float64 { return float64(r.Readings) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-34s %9d readings in %8.3fs = %9.0f readings/s", r.Name, r.Readings, r.Elapsed.Seconds(), r.PerSecond())
}

// Batches splits rows into batches of size.
func Batches(rows []vibemon.Reading, size int) [][]vibemon.Reading {
	var out [][]vibemon.Reading
	for len(rows) > 0 {
		n := min(size, len(rows))
		out = append(out, rows[:n])
		rows = rows[n:]
	}
	return out
}

// EncodeBatch returns the JSON body of POST /api/v1/telemetry for rs.
func EncodeBatch(rs []vibemon.Reading) []byte {
	b := []byte(`{"readings":[`)
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = sim.AppendReading(b, &rs[i])
	}
	return append(b, "]}"...)
}

// HTTPIngest posts pre-encoded bodies to baseURL's telemetry endpoint from
// clients concurrent senders, each taking the next body of one shared
// queue, and checks every answer accepted its whole batch, so a fast but
// lossy server cannot win.
func HTTPIngest(ctx context.Context, baseURL, token string, bodies [][]byte, perBody []int, clients int) (Result, error) {
	var next atomic.Int64
	return httpIngest(ctx, baseURL, token, clients, func(int) ([]byte, int, bool) {
		i := int(next.Add(1) - 1)
		if i >= len(bodies) {
			return nil, 0, false
		}
		return bodies[i], perBody[i], true
	})
}

// HTTPIngestPerClient is HTTPIngest with a queue per client: client c posts
// bodies[c] in order, as a gateway posts the batches of its own nodes.
func HTTPIngestPerClient(ctx context.Context, baseURL, token string, bodies [][][]byte, perBody [][]int) (Result, error) {
	next := make([]int, len(bodies)) // next[c] is only touched by client c
	return httpIngest(ctx, baseURL, token, len(bodies), func(c int) ([]byte, int, bool) {
		i := next[c]
		if i >= len(bodies[c]) {
			return nil, 0, false
		}
		next[c]++
		return bodies[c][i], perBody[c][i], true
	})
}

// httpIngest runs clients senders; sender c posts what next(c) gives until
// it gives no more.
func httpIngest(ctx context.Context, baseURL, token string, clients int, next func(c int) ([]byte, int, bool)) (Result, error) {
	var accepted atomic.Int64
	var firstErr error
	var once sync.Once
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body, size, ok := next(c)
				if !ok {
					return
				}
				n, err := post(ctx, hc, baseURL+"/api/v1/telemetry", token, body)
				if err == nil && n != size {
					err = fmt.Errorf("a batch of client %d: %d of %d readings accepted", c, n, size)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				accepted.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	return Result{Name: fmt.Sprintf("HTTP API (%d clients)", clients), Readings: int(accepted.Load()), Elapsed: time.Since(start)}, firstErr
}

func post(ctx context.Context, hc *http.Client, url, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("POST telemetry: %s: %s", resp.Status, data)
	}
	var accepted int
	if i := bytes.Index(data, []byte(`"accepted":`)); i >= 0 {
		fmt.Sscan(string(data[i+len(`"accepted":`):]), &accepted)
	}
	return accepted, nil
}

// DirectIngest inserts batches straight into the store from clients
// concurrent callers: the baseline the API is compared with.
func DirectIngest(ctx context.Context, store vibemon.ReadingStore, orgID int64, batches [][]vibemon.Reading, clients int) (Result, error) {
	var next atomic.Int64
	var accepted atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) || ctx.Err() != nil {
					return
				}
				isNew, err := store.InsertReadings(ctx, orgID, batches[i])
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				for _, n := range isNew {
					if n {
						accepted.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	return Result{Name: fmt.Sprintf("direct InsertReadings (%d callers)", clients), Readings: int(accepted.Load()), Elapsed: time.Since(start)}, firstErr
}
