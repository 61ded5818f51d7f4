package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// errServer is an answer that says "try again later": network error, 5xx,
// 401/403 (the token may be renewed), 429.
type errServer struct {
	op     string
	status int
	err    error
}

func (e *errServer) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.op, e.err)
	}
	return fmt.Sprintf("%s: status %d", e.op, e.status)
}

func (e *errServer) Unwrap() error { return e.err }

// syncLoop uploads the queue: a batch whenever there is one, exponential
// backoff with full jitter after a failure, and a connectivity check
// (GET /readyz) before the first retry.
func (g *Gateway) syncLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, 1))
	batch := g.cfg.BatchSize
	fails := 0
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for ctx.Err() == nil {
		n, err := g.syncOnce(ctx, &batch)
		if err == nil {
			err = g.syncBursts(ctx)
		}
		if err == nil {
			err = g.syncGaps(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.m.uploadErrors.Inc()
			g.m.serverUp.Set(0)
			if fails == 0 {
				g.log.Warn("upload failed, backing off", "err", err, "queued", g.cfg.Queue.Depth())
			}
			fails++
			for ctx.Err() == nil {
				d := min(g.cfg.MaxBackoff, g.cfg.MinBackoff<<min(fails-1, 20))
				sleep(ctx, time.Duration(rng.Int64N(int64(d)+1)))
				if g.ready(ctx) {
					break
				}
				fails++
			}
			continue
		}
		if fails > 0 {
			g.log.Info("server reachable again", "failures", fails)
		}
		fails = 0
		g.m.serverUp.Set(1)
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-g.cfg.Queue.Wake():
		case <-poll.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ready is the connectivity check.
func (g *Gateway) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", g.cfg.Server+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// do sends a JSON request and decodes a 2xx answer into out.
func (g *Gateway) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.cfg.Server+path, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	tok, err := g.cfg.TokenSource.Token(ctx)
	if err != nil {
		return 0, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, &errServer{op: method + " " + path, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, &errServer{op: method + " " + path, err: err}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		g.cfg.TokenSource.Invalidate()
	}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == 401, resp.StatusCode == 403, resp.StatusCode == 429, resp.StatusCode == 408:
		return resp.StatusCode, &errServer{op: method + " " + path, status: resp.StatusCode}
	case resp.StatusCode >= 300:
		return resp.StatusCode, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// register makes sure the server knows serial (POST /devices is
// idempotent by serial) and records its id in the queue.
func (g *Gateway) register(ctx context.Context, serial string) (int64, error) {
	d, err := g.cfg.Queue.Device(ctx, serial)
	if err != nil {
		return 0, err
	}
	if d.DeviceID != 0 {
		return d.DeviceID, nil
	}
	name := d.Name
	if name == "" {
		name = wire.DefaultLocalName + serial
	}
	in := map[string]string{"serial": serial, "name": name}
	if d.Firmware != "" {
		in["firmware_version"] = d.Firmware
	}
	body, _ := json.Marshal(in)
	var out struct {
		ID int64 `json:"id"`
	}
	status, err := g.do(ctx, "POST", "/api/v1/devices", body, &out)
	if err != nil {
		return 0, fmt.Errorf("register device %s: %w", serial, err)
	}
	if status/100 != 2 || out.ID == 0 {
		return 0, &errServer{op: "register device " + serial, status: status}
	}
	if err := g.cfg.Queue.SetDeviceID(ctx, serial, out.ID); err != nil {
		return 0, err
	}
	g.log.Info("device registered", "serial", serial, "device_id", out.ID)
	return out.ID, nil
}

// syncOnce uploads one batch and returns how many readings it took out of
// the queue.
func (g *Gateway) syncOnce(ctx context.Context, batch *int) (int, error) {
	q := g.cfg.Queue
	rs, ids, err := q.Pending(ctx, *batch)
	if err != nil || len(rs) == 0 {
		return 0, err
	}
	defer q.Release()
	for serial, id := range ids {
		if id == 0 {
			if ids[serial], err = g.register(ctx, serial); err != nil {
				return 0, err
			}
		}
	}
	body := make([]byte, 0, 64+len(rs)*400)
	body = append(body, `{"readings":[`...)
	for i, r := range rs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"device_id":`...)
		body = strconv.AppendInt(body, ids[r.Serial], 10)
		body = append(body, `,"seq":`...)
		body = strconv.AppendUint(body, uint64(r.Seq), 10)
		body = append(body, `,"ts":"`...)
		body = r.TS.UTC().AppendFormat(body, time.RFC3339Nano)
		body = append(body, '"')
		if r.frag != "" {
			body = append(body, ',')
			body = append(body, r.frag...)
		}
		body = append(body, '}')
	}
	body = append(body, "]}"...)
	var out struct {
		Accepted   int `json:"accepted"`
		Duplicates int `json:"duplicates"`
		Rejected   []struct {
			Index   int    `json:"index"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"rejected"`
	}
	status, err := g.do(ctx, "POST", "/api/v1/telemetry", body, &out)
	if err != nil {
		var se *errServer
		if errors.As(err, &se) && se.err != nil && *batch > 100 {
			*batch /= 2 // a timeout: smaller batches
		}
		return 0, err
	}
	switch {
	case status == http.StatusRequestEntityTooLarge && *batch > 1:
		*batch = max(1, *batch/2)
		return 0, nil
	case status/100 == 2:
	default:
		// The whole batch is unacceptable (400): record it as rejected
		// rather than block the queue behind it.
		g.log.Error("server rejected a whole batch", "status", status, "readings", len(rs))
		out.Rejected = out.Rejected[:0]
		for i := range rs {
			out.Rejected = append(out.Rejected, struct {
				Index   int    `json:"index"`
				Code    string `json:"code"`
				Message string `json:"message"`
			}{Index: i, Code: "invalid"})
		}
	}
	var rejected []Reading
	for _, x := range out.Rejected {
		if x.Index >= 0 && x.Index < len(rs) {
			rejected = append(rejected, rs[x.Index])
			g.log.Warn("reading rejected", "serial", rs[x.Index].Serial, "seq", rs[x.Index].Seq, "code", x.Code, "message", x.Message)
		}
	}
	if err := q.MarkUploaded(ctx, rs, rejected); err != nil {
		return 0, err
	}
	g.m.uploaded.Add(float64(len(rs) - len(rejected)))
	g.m.duplicates.Add(float64(out.Duplicates))
	g.m.rejected.Add(float64(len(rejected)))
	*batch = min(g.cfg.MaxBatch, *batch*2)
	return len(rs), nil
}

// syncBursts uploads the bursts waiting in the queue, oldest first. A
// burst leaves the queue after a 2xx, or a 4xx that retrying cannot change
// (a server without the waveform route answers 404); otherwise it stays
// for the next round.
func (g *Gateway) syncBursts(ctx context.Context) error {
	for {
		bs, err := g.cfg.Queue.Bursts(ctx, 4)
		if err != nil || len(bs) == 0 {
			return err
		}
		for _, b := range bs {
			id, err := g.register(ctx, b.Serial)
			if err != nil {
				return err
			}
			raw := make([]byte, 2*len(b.Data))
			for i, v := range b.Data {
				binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
			}
			body, _ := json.Marshal(map[string]any{"ts": b.TS.UTC().Format(time.RFC3339Nano), "sample_rate_hz": b.RateHz,
				"scale_g": b.Scale, "axes": b.Axes, "data": base64.StdEncoding.EncodeToString(raw)})
			status, err := g.do(ctx, "POST", "/api/v1/devices/"+strconv.FormatInt(id, 10)+"/waveforms", body, nil)
			if err != nil {
				return err // kept on disk for the retry
			}
			if status/100 == 2 {
				g.m.waveforms.Inc()
			} else {
				g.log.Warn("burst not accepted", "serial", b.Serial, "status", status)
			}
			if err := g.cfg.Queue.DeleteBurst(ctx, b.ID); err != nil {
				return err
			}
		}
	}
}

// maxGapReport is the most gaps one POST /devices/{id}/gaps carries (the
// server's limit).
const maxGapReport = 5000

// gapRange is one reported gap as the server takes it.
type gapRange struct {
	FromSeq int64  `json:"from_seq"`
	ToSeq   int64  `json:"to_seq"`
	Reason  string `json:"reason"`
	At      string `json:"at"`
}

// syncGaps reports the queue's unsent gaps to the server, per device, as
// seq ranges (adjacent gaps of one reason, such as the one-reading
// queue_full rows of a burst of drops, become one range). A gap is marked
// sent only after a 2xx; the route is idempotent, so a report cut short is
// simply sent again. A 4xx other than those errServer retries (a device
// the server no longer has, a gap it calls invalid) is logged and marked
// sent, so it cannot block the rest.
func (g *Gateway) syncGaps(ctx context.Context) error {
	q := g.cfg.Queue
	for {
		gs, err := q.UnsentGaps(ctx, maxGapReport)
		if err != nil || len(gs) == 0 {
			return err
		}
		bySerial := map[string][]Gap{}
		var order []string
		for _, gp := range gs {
			if bySerial[gp.Serial] == nil {
				order = append(order, gp.Serial)
			}
			bySerial[gp.Serial] = append(bySerial[gp.Serial], gp)
		}
		for _, serial := range order {
			part := bySerial[serial]
			id, err := g.register(ctx, serial)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"gaps": gapRanges(part)})
			status, err := g.do(ctx, "POST", "/api/v1/devices/"+strconv.FormatInt(id, 10)+"/gaps", body, nil)
			if err != nil {
				return err
			}
			if status/100 != 2 {
				g.log.Error("server refused a gap report; not sending it again", "serial", serial, "status", status, "gaps", len(part))
			} else {
				g.m.gapsReported.Add(float64(len(part)))
			}
			if err := q.MarkGapsSent(ctx, part); err != nil {
				return err
			}
		}
		if len(gs) < maxGapReport {
			return nil
		}
	}
}

// gapRanges turns one device's gaps into seq ranges, merging runs that
// touch and share a reason (the earliest time is kept).
func gapRanges(gs []Gap) []gapRange {
	s := slices.Clone(gs)
	slices.SortStableFunc(s, func(a, b Gap) int {
		if c := strings.Compare(a.Reason, b.Reason); c != 0 {
			return c
		}
		return cmp.Compare(a.First, b.First)
	})
	var out []gapRange
	var at []time.Time
	for _, gp := range s {
		if gp.Count == 0 {
			continue
		}
		from, to := int64(gp.First), int64(gp.First)+int64(gp.Count)-1
		to = min(to, 1<<32-1)
		if n := len(out); n > 0 && out[n-1].Reason == gp.Reason && from <= out[n-1].ToSeq+1 {
			out[n-1].ToSeq = max(out[n-1].ToSeq, to)
			if gp.At.Before(at[n-1]) {
				at[n-1] = gp.At
			}
			continue
		}
		out = append(out, gapRange{FromSeq: from, ToSeq: to, Reason: gp.Reason})
		at = append(at, gp.At)
	}
	for i := range out {
		out[i].At = at[i].UTC().Format(time.RFC3339Nano)
	}
	return out
}
