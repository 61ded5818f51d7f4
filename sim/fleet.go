package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// FleetConfig configures a Fleet. Zero values mean the documented defaults.
type FleetConfig struct {
	// BaseURL is the server, e.g. "http://127.0.0.1:8080". Required.
	BaseURL string
	// Token returns an access token of an account with the engineer role
	// or above; it is called again when the server answers 401. When nil,
	// the fleet logs in with Email and Password.
	Token           func(ctx context.Context) (string, error)
	Email, Password string
	// Devices is the number of machines; defaults to 8.
	Devices int
	// Speed is simulated seconds per real second: how fast machines age.
	// Defaults to 120, so a degrading machine crosses its alarm level
	// within about a minute. Readings are stamped with real time.
	Speed float64
	// Interval between readings of one node; defaults to 1 s.
	Interval time.Duration
	// Backfill is how much history to send at start for a device that has
	// no reading yet, at one reading per 10 s; defaults to 1 h, negative
	// for none.
	Backfill time.Duration
	// History is older history before the Backfill, at one reading per 10
	// minutes, so that day and month charts, the baseline and the anomaly
	// model have something to show from the first minute; defaults to 7
	// days for fleets of up to HistoryMaxDevices machines (none for larger
	// ones: 10,000 machines would start with 10 million readings),
	// negative for none.
	History time.Duration
	// BurstEvery is how often each node sends a raw burst (4096 samples x
	// 3 axes) for spectrum and bearing analysis; defaults to 60 s,
	// negative for never. Nodes take turns so bursts spread out.
	BurstEvery time.Duration
	// Seed makes the fleet deterministic; defaults to 1.
	Seed       uint64
	Logger     *slog.Logger
	Now        func() time.Time
	HTTPClient *http.Client
}

// Fleet posts readings of simulated machines to a server.
type Fleet struct {
	cfg      FleetConfig
	machines []*Machine
	devices  []int64
	token    string
	start    time.Time
	// seqLag is, per machine, how far its node's numbering runs behind its
	// clock's second: the time the backfill took for a backfilled one, so
	// that its first live reading follows the backfilled ones without a
	// hole; 0 for the others.
	seqLag []int64
}

// NewFleet validates cfg and returns a fleet; Run starts it.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.BaseURL == "" || (cfg.Token == nil && (cfg.Email == "" || cfg.Password == "")) {
		return nil, errors.New("sim: BaseURL, and Token or Email and Password, are required")
	}
	if cfg.Devices == 0 {
		cfg.Devices = 8
	}
	if cfg.Devices < 0 || cfg.Devices > 10000 {
		return nil, fmt.Errorf("sim: devices must be between 1 and 10000, got %d", cfg.Devices)
	}
	if cfg.Speed == 0 {
		cfg.Speed = 120
	}
	if cfg.Speed < 0 || math.IsNaN(cfg.Speed) || cfg.Speed > 1e6 {
		return nil, fmt.Errorf("sim: speed must be between 0 and 1e6, got %g", cfg.Speed)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.BurstEvery == 0 {
		cfg.BurstEvery = time.Minute
	}
	if cfg.Backfill == 0 {
		cfg.Backfill = time.Hour
	}
	if cfg.History == 0 && cfg.Devices <= HistoryMaxDevices {
		cfg.History = 7 * 24 * time.Hour
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	f := &Fleet{cfg: cfg}
	for i := 0; i < cfg.Devices; i++ {
		f.machines = append(f.machines, NewMachine(i, cfg.Seed))
	}
	return f, nil
}

// Run logs in, registers the machines and their nodes (idempotently, so a
// restarted demo continues with the same devices), creates default alert
// rules when the org has none, and posts a batch of readings every
// Interval until ctx is done.
func (f *Fleet) Run(ctx context.Context) error {
	if err := f.setup(ctx); err != nil {
		return err
	}
	f.start = f.cfg.Now()
	f.seqLag = make([]int64, len(f.machines))
	if f.cfg.Backfill > 0 {
		sent, err := f.backfill(ctx)
		if err != nil {
			return err
		}
		lag := f.cfg.Now().Unix() - f.start.Unix()
		for _, i := range sent {
			f.seqLag[i] = lag
		}
	}
	tick := time.NewTicker(f.cfg.Interval)
	defer tick.Stop()
	nextBurst := 0 // machine whose burst is due next
	var burstAt time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := f.cfg.Now()
		batch := make([]vibemon.Reading, 0, len(f.machines))
		for i, m := range f.machines {
			batch = append(batch, f.reading(i, m, now))
		}
		if err := f.post(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.cfg.Logger.Warn("demo fleet: post readings", "err", err)
		}
		if f.cfg.BurstEvery > 0 && !now.Before(burstAt) {
			if err := f.postBurst(ctx, nextBurst, now); err != nil && ctx.Err() == nil {
				f.cfg.Logger.Warn("demo fleet: post burst", "err", err)
			}
			nextBurst = (nextBurst + 1) % len(f.machines)
			burstAt = now.Add(f.cfg.BurstEvery / time.Duration(len(f.machines)))
		}
	}
}

func (f *Fleet) simTime(ts time.Time) time.Duration {
	simT := time.Duration(float64(ts.Sub(f.start)) * f.cfg.Speed)
	if simT < 0 {
		simT = 0
	}
	return simT
}

// postBurst sends machine i's raw burst, as its node does on request.
func (f *Fleet) postBurst(ctx context.Context, i int, now time.Time) error {
	data, scale, rate := f.machines[i].Burst(f.simTime(now))
	raw := vibemon.EncodeSamples(data)
	body := map[string]any{
		"ts": now.UTC().Format(time.RFC3339Nano), "sample_rate_hz": rate, "scale_g": scale, "axes": 3,
		"data": base64.StdEncoding.EncodeToString(raw),
	}
	return f.call(ctx, "POST", fmt.Sprintf("/api/v1/devices/%d/waveforms", f.devices[i]), body, nil)
}

func (f *Fleet) reading(i int, m *Machine, ts time.Time) vibemon.Reading {
	// A simulated node numbers its readings by its clock's second (less
	// its seqLag), so a restarted fleet, which backfills no machine that
	// sent before, never reuses a sequence number of an earlier run: their
	// numbers start at the clock, past every earlier one.
	return m.LiveReading(f.devices[i], (ts.Unix()-f.seqLag[i])&vibemon.MaxSeq, ts, f.simTime(ts))
}

// HistoryMaxDevices is the largest fleet that gets a week of History by
// default.
const HistoryMaxDevices = 200

// backfill posts History of older history, one reading per 10 minutes,
// then Backfill, one reading per 10 s, for each device that has no reading
// yet (a restarted demo goes on from where it stopped, the time it was off
// a gap). The readings are numbered as the node goes on numbering (its
// clock's second, reading), without a hole: history of a node that sent
// until the demo started, so the device's completeness is 100 %.
func (f *Fleet) backfill(ctx context.Context) (sent []int, err error) {
	var stamps []time.Time // oldest first
	if f.cfg.History > 0 {
		for d := f.cfg.History + f.cfg.Backfill; d > f.cfg.Backfill; d -= 10 * time.Minute {
			stamps = append(stamps, f.start.Add(-d))
		}
	}
	for d := f.cfg.Backfill; d > 0; d -= 10 * time.Second {
		stamps = append(stamps, f.start.Add(-d))
	}
	n := int64(len(stamps))
	last := f.start.Unix() // the first live reading is numbered after it
	var batch []vibemon.Reading
	for i, m := range f.machines {
		var d vibemon.Device
		if err := f.call(ctx, "GET", fmt.Sprintf("/api/v1/devices/%d", f.devices[i]), nil, &d); err != nil {
			return sent, fmt.Errorf("backfill: %w", err)
		}
		if d.LastSeenAt != nil {
			continue
		}
		sent = append(sent, i)
		for k, ts := range stamps {
			// Before the start the machine ran at the speed of the clock
			// (its simulated time negative), healthy.
			batch = append(batch, m.Reading(f.devices[i], (last-(n-1-int64(k)))&vibemon.MaxSeq, ts, ts.Sub(f.start)))
			if len(batch) >= 2000 {
				if err := f.post(ctx, batch); err != nil {
					return sent, fmt.Errorf("backfill: %w", err)
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		if err := f.post(ctx, batch); err != nil {
			return sent, fmt.Errorf("backfill: %w", err)
		}
	}
	return sent, nil
}

func (f *Fleet) setup(ctx context.Context) error {
	if err := f.setupToken(ctx); err != nil {
		return err
	}
	var assets struct{ Items []vibemon.Asset }
	if err := f.call(ctx, "GET", "/api/v1/assets", nil, &assets); err != nil {
		return fmt.Errorf("list assets: %w", err)
	}
	byName := map[string]int64{}
	for _, a := range assets.Items {
		byName[a.Name] = a.ID
	}
	for i, m := range f.machines {
		assetID, ok := byName[m.Name]
		if !ok {
			a := vibemon.Asset{}
			in := map[string]any{"name": m.Name, "type": m.Type, "rpm": m.RPM, "iso_group": 2, "foundation": vibemon.FoundationRigid, "bearing": "6205"}
			if err := f.call(ctx, "POST", "/api/v1/assets", in, &a); err != nil {
				return fmt.Errorf("create asset %q: %w", m.Name, err)
			}
			assetID = a.ID
		}
		d := vibemon.Device{Serial: fmt.Sprintf("SIM-%04d", i+1)}
		in := map[string]any{"serial": d.Serial, "name": "Node " + m.Name, "asset_id": assetID, "firmware_version": "sim-1"}
		if err := f.call(ctx, "POST", "/api/v1/devices", in, &d); err != nil {
			return fmt.Errorf("register device %s: %w", d.Serial, err)
		}
		f.devices = append(f.devices, d.ID)
	}

	var rules struct{ Items []vibemon.Rule }
	if err := f.call(ctx, "GET", "/api/v1/alert-rules", nil, &rules); err != nil {
		return fmt.Errorf("list alert rules: %w", err)
	}
	if len(rules.Items) > 0 {
		return nil
	}
	rule := func(name, metric string, op vibemon.Op, threshold, clear float64, sev vibemon.Severity) map[string]any {
		return map[string]any{"name": name, "metric": metric, "op": op, "threshold": threshold, "clear": clear, "severity": sev, "enabled": true}
	}
	// ISO 10816-3 zones of each machine's group and foundation (group 2,
	// rigid: B/C at 2.8 mm/s, C/D at 4.5 mm/s), on the highest axis: one
	// alert per machine and zone, not one per axis. Warn on zone C, page
	// on D.
	zone := func(name, zone string, sev vibemon.Severity) map[string]any {
		return map[string]any{"name": name, "kind": vibemon.RuleISOZone, "zone": zone, "severity": sev, "enabled": true}
	}
	defaults := []map[string]any{
		zone("Vibration in ISO 10816-3 zone C", vibemon.ZoneC, vibemon.SeverityWarning),
		zone("Vibration in ISO 10816-3 zone D", vibemon.ZoneD, vibemon.SeverityCritical),
		rule("Bearing temperature high", "temp_c", vibemon.OpAbove, 80, 75, vibemon.SeverityCritical),
		rule("Battery low", "battery_v", vibemon.OpBelow, 3.4, 3.5, vibemon.SeverityInfo),
	}
	for _, r := range defaults {
		if err := f.call(ctx, "POST", "/api/v1/alert-rules", r, nil); err != nil {
			return fmt.Errorf("create rule %q: %w", r["name"], err)
		}
	}
	return nil
}

func (f *Fleet) post(ctx context.Context, batch []vibemon.Reading) error {
	body := make([]byte, 0, 64+len(batch)*400)
	body = append(body, `{"readings":[`...)
	for i := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = AppendReading(body, &batch[i])
	}
	body = append(body, "]}"...)
	var res vibemon.IngestResult
	if err := f.do(ctx, "POST", "/api/v1/telemetry", body, &res); err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		return fmt.Errorf("server rejected %d of %d readings, first: %s", len(res.Rejected), len(batch), res.Rejected[0].Message)
	}
	return nil
}

func (f *Fleet) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return f.do(ctx, method, path, body, out)
}

func (f *Fleet) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, f.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized && f.token != "" && path != "/api/v1/auth/login" {
		// The access token expired: log in again and retry once.
		f.token = ""
		if err := f.setupToken(ctx); err != nil {
			return err
		}
		return f.do(ctx, method, path, body, out)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error.Message)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (f *Fleet) setupToken(ctx context.Context) error {
	if f.cfg.Token != nil {
		t, err := f.cfg.Token(ctx)
		if err != nil {
			return fmt.Errorf("demo fleet token: %w", err)
		}
		f.token = t
		return nil
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := f.call(ctx, "POST", "/api/v1/auth/login", map[string]string{"email": f.cfg.Email, "password": f.cfg.Password}, &login); err != nil {
		return fmt.Errorf("demo fleet login: %w", err)
	}
	f.token = login.AccessToken
	return nil
}

// AppendReading appends r in the ingest API's JSON form to dst.
func AppendReading(dst []byte, r *vibemon.Reading) []byte {
	dst = fmt.Appendf(dst, `{"device_id":%d,"seq":%d,"ts":%q`, r.DeviceID, r.Seq, r.TS.UTC().Format(time.RFC3339Nano))
	for i, v := range r.Values {
		if math.IsNaN(v) {
			continue
		}
		dst = fmt.Appendf(dst, `,"%s":%g`, vibemon.Metric(i), v)
	}
	return append(dst, '}')
}
