package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/gateway/blelink"
	"github.com/vibemon/vibemon/s3test"
)

// otaRig is a real server, simulated nodes (one by default) with OTA
// (release key pub) on a sped-up clock and a gateway that manages them
// every 100 ms.
type otaRig struct {
	*gwRig
	priv   ed25519.PrivateKey
	node   *blelink.SimNode // the first node
	devID  int64            // its device id
	devIDs map[string]int64 // every node's, by serial
	tweak  func(*gateway.Config)
}

// rigOpts are newManagedRig's options; the zero value is newOTARig's rig.
type rigOpts struct {
	nodes int // default 1
	link  blelink.LinkConfig
	// gw changes the gateway's Config before each start.
	gw func(*gateway.Config)
	// env adds settings to the server's.
	env map[string]string
}

func newOTARig(t *testing.T, link blelink.LinkConfig) *otaRig {
	t.Helper()
	return newManagedRig(t, rigOpts{link: link})
}

func newManagedRig(t *testing.T, o rigOpts) *otaRig {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	r := &otaRig{gwRig: &gwRig{t: t, env: map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, addr: freeAddr(t),
		queue: filepath.Join(t.TempDir(), "queue.db")}, priv: priv, tweak: o.gw}
	maps.Copy(r.env, o.env)
	r.startServer()
	r.clock = blelink.NewClock(time.Now().Add(-2*time.Hour), 60)
	r.fleet, err = blelink.NewFleet(blelink.FleetConfig{Nodes: max(o.nodes, 1), Interval: 5 * time.Second, Seed: 11, Clock: r.clock, Link: o.link,
		Timeouts: fw.Timeouts{Sleep: 20 * time.Second, Reconnect: 20 * time.Second}, OTAKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	r.node = r.fleet.Nodes()[0]
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.fleet.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.fleet.Stop() })
	r.startManagingGateway()
	t.Cleanup(r.stopGateway)
	r.await("the gateway registers the nodes", func() (int64, bool) {
		var devs struct {
			Items []struct {
				ID     int64
				Serial string
			}
		}
		r.c.do("GET", "/api/v1/devices", nil, &devs)
		if len(devs.Items) < len(r.fleet.Nodes()) {
			return 0, false
		}
		r.devIDs = map[string]int64{}
		for _, d := range devs.Items {
			r.devIDs[d.Serial] = d.ID
		}
		return 0, true
	})
	r.devID = r.devIDs[r.node.Serial()]
	return r
}

// startManagingGateway opens the queue file and starts a gateway on it
// (again after stopGateway: a gateway restart).
func (r *otaRig) startManagingGateway() {
	r.t.Helper()
	q, err := gateway.OpenQueue(r.queue, r.queueConfig())
	if err != nil {
		r.t.Fatal(err)
	}
	r.q, r.reg = q, prometheus.NewRegistry()
	cfg := gateway.Config{Central: r.fleet, Queue: q, Server: "http://" + r.addr, Token: r.c.token,
		ScanEvery: 50 * time.Millisecond, AckEvery: 150 * time.Millisecond, AckGrace: 60 * time.Millisecond, ManageEvery: 100 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Now: r.clock.Now, Registerer: r.reg}
	if r.tweak != nil {
		r.tweak(&cfg)
	}
	r.gw, err = gateway.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.gw.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// await polls the server (what a user would look at) until ok, for at
// most 60 s.
func (r *otaRig) await(what string, f func() (int64, bool)) int64 {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := f(); ok {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting until %s", what)
	return 0
}

// setTarget makes image id the first node's target firmware, as an
// engineer would on the device's page.
func (r *otaRig) setTarget(id int64) {
	r.t.Helper()
	if st := r.c.do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", r.devID), map[string]any{"target_firmware_id": id}, nil); st != 200 {
		r.t.Fatalf("PUT settings: status %d", st)
	}
}

// upload posts a signed image as an admin and returns its id.
func (r *otaRig) upload(version string, image, sig []byte) int64 {
	r.t.Helper()
	q := url.Values{"version": {version}, "hardware": {"sim"}, "signature": {hex.EncodeToString(sig)}}
	req, _ := http.NewRequest("POST", r.srv.URL+"/api/v1/firmware?"+q.Encode(), bytes.NewReader(image))
	req.Header.Set("Authorization", "Bearer "+r.c.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID int64 }
	if resp.StatusCode != 201 {
		r.t.Fatalf("upload firmware: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out.ID
}

type otaStatusJSON struct {
	FirmwareID int64  `json:"firmware_id"`
	Version    string `json:"version"`
	State      string `json:"state"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
	Error      string `json:"error"`
}

func (r *otaRig) otaStatus() (otaStatusJSON, int) {
	var raw json.RawMessage
	var st otaStatusJSON
	code := r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d/ota-status", r.devID), nil, &raw)
	if code == 200 {
		if err := json.Unmarshal(raw, &st); err != nil {
			r.t.Fatal(err)
		}
	}
	return st, code
}

// TestGatewayAppliesServerSettings: an interval set on the server reaches
// the node, whose summaries then arrive 30 s apart; after the node
// reboots to its built-in 5 s (a conflict, logged and counted) the
// server's 30 s wins again.
func TestGatewayAppliesServerSettings(t *testing.T) {
	r := newOTARig(t, blelink.LinkConfig{})
	if st := r.c.do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", r.devID), map[string]any{"interval_s": 30}, nil); st != 200 {
		t.Fatalf("PUT settings: status %d", st)
	}
	r.awaitInterval(30*time.Second, time.Time{})
	if got := r.metric("vibemon_gateway_settings_applied_total"); got < 1 {
		t.Errorf("settings_applied_total = %v, want at least 1", got)
	}
	if got := r.metric("vibemon_gateway_settings_conflicts_total"); got != 0 {
		t.Errorf("settings_conflicts_total = %v before any conflict", got)
	}
	if err := r.node.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.await("the gateway counts the rebooted node's 5 s as a conflict", func() (int64, bool) {
		return 0, r.metric("vibemon_gateway_settings_conflicts_total") >= 1
	})
	r.awaitInterval(30*time.Second, r.clock.Now())
}

// TestGatewayRemembersDeliveredSettingsAcrossARestart: what the gateway
// delivered is in its queue file, so a node that rebooted to its built-in
// 5 s while the gateway was restarted is a conflict for the new gateway
// process, not a delivery; and the server's 30 s wins again.
func TestGatewayRemembersDeliveredSettingsAcrossARestart(t *testing.T) {
	r := newOTARig(t, blelink.LinkConfig{})
	if st := r.c.do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", r.devID), map[string]any{"interval_s": 30}, nil); st != 200 {
		t.Fatalf("PUT settings: status %d", st)
	}
	r.awaitInterval(30*time.Second, time.Time{})
	r.stopGateway()
	if err := r.node.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.startManagingGateway() // a new process on the same queue file
	r.await("the restarted gateway counts the rebooted node's 5 s as a conflict", func() (int64, bool) {
		return 0, r.metric("vibemon_gateway_settings_conflicts_total") >= 1
	})
	if got := r.metric("vibemon_gateway_settings_applied_total"); got != 0 {
		t.Errorf("settings_applied_total = %v after the restart, want 0: the node had been given 30 s before", got)
	}
	r.awaitInterval(30*time.Second, r.clock.Now())
}

// awaitInterval waits until the server's last four summaries, all
// measured after since, are spaced d apart.
func (r *otaRig) awaitInterval(d time.Duration, since time.Time) {
	r.t.Helper()
	r.await(fmt.Sprintf("three summaries in a row arrive %s apart", d), func() (int64, bool) {
		var out struct {
			Items []struct {
				TS time.Time `json:"ts"`
			} `json:"items"`
		}
		from := r.clock.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
		to := r.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d/telemetry?bucket=raw&limit=100000&from=%s&to=%s", r.devID, url.QueryEscape(from), url.QueryEscape(to)), nil, &out)
		if len(out.Items) < 4 {
			return 0, false
		}
		last := out.Items[len(out.Items)-4:]
		if !last[0].TS.After(since) {
			return 0, false
		}
		for i := 1; i < len(last); i++ {
			if gap := last[i].TS.Sub(last[i-1].TS); gap < d-time.Second || gap > d+time.Second {
				return 0, false
			}
		}
		return 0, true
	})
}

// TestGatewayRelaysSignedFirmware: an image signed with the release key
// reaches the node over a link losing 5 % of the writes, with the link
// broken mid-transfer (the relay resumes where the node's OTA status
// says); the node verifies it, reboots into it and reports the new
// version, which the device API shows.
func TestGatewayRelaysSignedFirmware(t *testing.T) {
	r := newOTARig(t, blelink.LinkConfig{Drop: 0.05})
	img := blelink.SimImage([3]uint8{1, 1, 0}, 40000, 3)
	_, sig := blelink.SignImage(r.priv, img)
	id := r.upload("1.1.0", img, sig)
	var once sync.Once
	cut := make(chan uint32, 1)
	var mu sync.Mutex
	resumedAt := -1 // the node's offset after the first chunk past the cut
	r.node.OnOTAData(func(next uint32) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-cut:
			cut <- 0
			if resumedAt < 0 {
				resumedAt = int(next)
			}
			return
		default:
		}
		if next >= 20000 {
			once.Do(func() { cut <- next; r.node.Disconnect() })
		}
	})
	r.setTarget(id)
	r.await("the device API shows the update done", func() (int64, bool) {
		st, code := r.otaStatus()
		if code == 200 && st.State == "failed" {
			t.Fatalf("OTA failed: %+v", st)
		}
		return 0, code == 200 && st.State == "done" && st.Version == "1.1.0" && st.BytesDone == int64(len(img))
	})
	mu.Lock()
	if resumedAt < 20000 {
		t.Errorf("after the cut the node was at offset %d: the relay did not resume from its status (want >= 20000)", resumedAt)
	}
	mu.Unlock()
	if v := r.node.Firmware(); v != [3]uint8{1, 1, 0} {
		t.Errorf("node runs %v, want 1.1.0", v)
	}
	var dev struct {
		FirmwareVersion string `json:"firmware_version"`
	}
	r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d", r.devID), nil, &dev)
	if dev.FirmwareVersion != "1.1.0" {
		t.Errorf("device firmware_version = %q, want 1.1.0", dev.FirmwareVersion)
	}
	if got := r.metric("vibemon_gateway_ota_updates_total"); got != 1 {
		t.Errorf("ota_updates_total = %v, want 1", got)
	}
	if sent := r.metric("vibemon_gateway_ota_bytes_sent_total"); sent < float64(len(img)) {
		t.Errorf("ota_bytes_sent_total = %v, want at least the image (%d)", sent, len(img))
	}
}

// TestGatewayRelaysFirmwareFromS3: with VIBEMON_BLOB_URL set, an uploaded
// image's bytes go to the S3 bucket (here an S3 protocol peer on loopback),
// and a rollout reads them from there: the gateway downloads the image and
// the node ends on it.
func TestGatewayRelaysFirmwareFromS3(t *testing.T) {
	bucket := s3test.Start(t, "vibemon-firmware")
	r := newManagedRig(t, rigOpts{env: map[string]string{
		"VIBEMON_BLOB_URL":  "s3://vibemon-firmware/plant-1?endpoint=" + bucket.Endpoint + "&tls=false",
		"AWS_ACCESS_KEY_ID": "vibemon", "AWS_SECRET_ACCESS_KEY": "secret-key",
	}})
	img := blelink.SimImage([3]uint8{1, 1, 0}, 30000, 3)
	sum, sig := blelink.SignImage(r.priv, img)
	id := r.upload("1.1.0", img, sig)
	var f struct{ SHA256 string }
	if st := r.c.do("GET", fmt.Sprintf("/api/v1/firmware/%d", id), nil, &f); st != 200 {
		t.Fatalf("GET firmware: status %d", st)
	}
	obj, err := bucket.Backend.HeadObject("vibemon-firmware", "plant-1/"+vibemon.FirmwareBlobKey(1, f.SHA256))
	if err != nil || obj.Size != int64(len(img)) || f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("the bucket holds no %d-byte image under its digest %s: %v", len(img), f.SHA256, err)
	}
	r.setTarget(id)
	r.await("the node runs the image from the bucket", func() (int64, bool) {
		st, code := r.otaStatus()
		if code == 200 && st.State == "failed" {
			t.Fatalf("OTA failed: %+v", st)
		}
		return 0, code == 200 && st.State == "done" && r.node.Firmware() == [3]uint8{1, 1, 0}
	})

	// The storage goes away: the API replica is not ready, and an upload
	// is refused (503) without recording an image.
	bucket.Close()
	resp, err := http.Get(r.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the bucket down: status %d, want 503", resp.StatusCode)
	}
	q := url.Values{"version": {"1.2.0"}, "hardware": {"sim"}, "signature": {hex.EncodeToString(sig)}}
	req, _ := http.NewRequest("POST", r.srv.URL+"/api/v1/firmware?"+q.Encode(), bytes.NewReader(img))
	req.Header.Set("Authorization", "Bearer "+r.c.token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var list struct{ Items []struct{ ID int64 } }
	r.c.do("GET", "/api/v1/firmware", nil, &list)
	if resp.StatusCode != http.StatusServiceUnavailable || len(list.Items) != 1 {
		t.Errorf("upload with the bucket down: status %d and %d images listed; want 503 and still 1", resp.StatusCode, len(list.Items))
	}
}

// otaReports records every OTA progress report the gateway posts, in
// order (the server keeps only the latest).
type otaReports struct {
	mu   sync.Mutex
	reps []otaStatusJSON
	// check runs on each report before it is sent.
	check func(otaStatusJSON)
}

func (o *otaReports) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "POST" && strings.HasSuffix(req.URL.Path, "/ota-status") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		var st otaStatusJSON
		if json.Unmarshal(b, &st) == nil {
			o.mu.Lock()
			o.reps = append(o.reps, st)
			if o.check != nil {
				o.check(st)
			}
			o.mu.Unlock()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (o *otaReports) all() []otaStatusJSON {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reps)
}

// TestGatewayRelaysFirmwareDespiteLostOTAStatus: the link loses 30 % of
// the OTA status notifications (and 5 % of the data writes); the relay
// asks again for a lost one (OTAQuery). From 20 kB on it loses every one:
// the relay asks three times per command, gives up for the round, starts
// over and gives up again. Back at 30 %, the relay resumes where the node
// is and the node ends on the new image. Every progress report the gateway
// sent went forward (no "downloading 0" after "transferring") and never
// claimed more bytes than the node had stored.
func TestGatewayRelaysFirmwareDespiteLostOTAStatus(t *testing.T) {
	reps := &otaReports{}
	lossy := blelink.LinkConfig{DropOTA: 0.3, Drop: 0.05}
	r := newManagedRig(t, rigOpts{link: lossy,
		gw: func(c *gateway.Config) {
			c.OTAStatusTimeout = 150 * time.Millisecond
			c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: reps}
		}})
	img := blelink.SimImage([3]uint8{1, 1, 0}, 60000, 6)
	_, sig := blelink.SignImage(r.priv, img)
	id := r.upload("1.1.0", img, sig)
	var mu sync.Mutex
	stored := uint32(0) // the most the node ever held
	deaf := make(chan struct{})
	var once sync.Once
	r.node.OnOTAData(func(next uint32) {
		mu.Lock()
		stored = max(stored, next)
		mu.Unlock()
		if next >= 20000 {
			once.Do(func() {
				r.fleet.SetLink(blelink.LinkConfig{DropOTA: 1, Drop: 0.05})
				close(deaf)
			})
		}
	})
	reps.check = func(st otaStatusJSON) {
		mu.Lock()
		defer mu.Unlock()
		if st.State == "transferring" && st.BytesDone > int64(stored) {
			t.Errorf("progress reported %d bytes, but the node had stored only %d", st.BytesDone, stored)
		}
	}
	r.setTarget(id)
	select {
	case <-deaf:
	case <-time.After(60 * time.Second):
		t.Fatal("the transfer never reached 20 kB")
	}
	from := r.metric("vibemon_gateway_ota_status_retries_total")
	r.await("the relay asked again for lost statuses, gave up and started over", func() (int64, bool) {
		return 0, r.metric("vibemon_gateway_ota_status_retries_total") >= from+6
	})
	if v := r.node.Firmware(); v != [3]uint8{1, 0, 0} {
		t.Fatalf("node runs %v with every OTA status lost", v)
	}
	r.fleet.SetLink(lossy)
	r.await("the device API shows the update done", func() (int64, bool) {
		st, code := r.otaStatus()
		if code == 200 && st.State == "failed" {
			t.Fatalf("OTA failed: %+v", st)
		}
		return 0, code == 200 && st.State == "done" && st.Version == "1.1.0" && st.BytesDone == int64(len(img))
	})
	seen := reps.all()
	rank := map[string]int{"downloading": 0, "transferring": 1, "verifying": 2, "rebooting": 3, "done": 4}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if rank[b.State] < rank[a.State] || (a.State == b.State && b.BytesDone < a.BytesDone) {
			t.Errorf("progress went back from %s %d to %s %d (all: %+v)", a.State, a.BytesDone, b.State, b.BytesDone, seen)
			break
		}
	}
	if v := r.node.Firmware(); v != [3]uint8{1, 1, 0} {
		t.Errorf("node runs %v, want 1.1.0", v)
	}
	lost := r.fleet.Stats().OTADropped
	t.Logf("%d OTA statuses lost, %v asked again, %d progress reports", lost, r.metric("vibemon_gateway_ota_status_retries_total"), len(seen))
}

// TestGatewayReportsARefusedSignature: an image signed with another key
// is transferred, refused by the node at commit, reported failed, and not
// tried again; the node keeps its firmware.
func TestGatewayReportsARefusedSignature(t *testing.T) {
	gets := &firmwareGets{}
	r := newManagedRig(t, rigOpts{gw: gets.install})
	_, other, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	img := blelink.SimImage([3]uint8{1, 2, 0}, 9000, 4)
	_, sig := blelink.SignImage(other, img)
	id := r.upload("1.2.0", img, sig)
	r.setTarget(id)
	r.await("the device API shows the update failed", func() (int64, bool) {
		st, code := r.otaStatus()
		return 0, code == 200 && st.State == "failed"
	})
	st, _ := r.otaStatus()
	if !strings.Contains(st.Error, "signature") || st.Version != "1.2.0" {
		t.Errorf("OTA status = %+v, want failed naming the signature", st)
	}
	if v := r.node.Firmware(); v != [3]uint8{1, 0, 0} {
		t.Errorf("node runs %v, want 1.0.0 still", v)
	}
	if got := r.metric("vibemon_gateway_ota_failures_total"); got != 1 {
		t.Errorf("ota_failures_total = %v, want 1 (a refused image is not retried)", got)
	}
	r.expectNoRelayAfterRestart(gets, id)
}

// firmwareGets counts the gateway's GET /api/v1/firmware/{id}: the relay
// asks for the image's metadata at the start of every round, before it
// decides whether to send it.
type firmwareGets struct{ n atomic.Int64 }

func (f *firmwareGets) install(c *gateway.Config) {
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: f}
}

func (f *firmwareGets) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == "GET" && strings.HasPrefix(req.URL.Path, "/api/v1/firmware/") {
		f.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// expectNoRelayAfterRestart restarts the gateway on the same queue file
// and lets the new process run two relay rounds for the node (one relay
// runs at a time, so the second begins after the first ended): an image
// the node refused or rolled back from is not sent again, and the server
// still shows the update failed.
func (r *otaRig) expectNoRelayAfterRestart(gets *firmwareGets, id int64) {
	r.t.Helper()
	r.stopGateway()
	r.startManagingGateway() // a new process: its metrics start at 0
	base := gets.n.Load()
	r.await("the restarted gateway runs two relay rounds for the node", func() (int64, bool) {
		return 0, gets.n.Load() >= base+2
	})
	if sent := r.metric("vibemon_gateway_ota_bytes_sent_total"); sent != 0 {
		r.t.Errorf("the restarted gateway sent %v bytes of firmware %d again, want none: the node refused or rolled back from it before", sent, id)
	}
	if st, _ := r.otaStatus(); st.State != "failed" || st.FirmwareID != id {
		r.t.Errorf("OTA status after the restart = %+v, want still failed for firmware %d", st, id)
	}
	if v := r.node.Firmware(); v != [3]uint8{1, 0, 0} {
		r.t.Errorf("node runs %v after the gateway restarted, want 1.0.0", v)
	}
}

// TestGatewayReportsARollback: a correctly signed image that boots but
// never confirms itself is rolled back by the node after its 10-minute
// trial; the gateway does not call that done, reports it failed, and does
// not send it again.
func TestGatewayReportsARollback(t *testing.T) {
	gets := &firmwareGets{}
	r := newManagedRig(t, rigOpts{gw: gets.install})
	img := blelink.SimImageNoConfirm([3]uint8{1, 3, 0}, 6000, 5)
	_, sig := blelink.SignImage(r.priv, img)
	id := r.upload("1.3.0", img, sig)
	r.setTarget(id)
	r.await("the device API shows the update failed", func() (int64, bool) {
		st, code := r.otaStatus()
		if code == 200 && st.State == "done" {
			t.Fatalf("an image on trial was reported done: %+v", st)
		}
		return 0, code == 200 && st.State == "failed"
	})
	st, _ := r.otaStatus()
	if !strings.Contains(st.Error, "rolled back") {
		t.Errorf("OTA status = %+v, want failed saying the node rolled back", st)
	}
	if v := r.node.Firmware(); v != [3]uint8{1, 0, 0} {
		t.Errorf("node runs %v after the rollback, want 1.0.0", v)
	}
	if got := r.metric("vibemon_gateway_ota_updates_total"); got != 0 {
		t.Errorf("ota_updates_total = %v, want 0", got)
	}
	// A restarted gateway would otherwise flash it again: another ten
	// minutes on trial and another rollback.
	r.expectNoRelayAfterRestart(gets, id)
}
