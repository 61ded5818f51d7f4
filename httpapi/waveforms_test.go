package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// storeWaveforms stores bursts without analysing them (no job queue here).
type storeWaveforms struct{ store vibemon.Store }

func (s storeWaveforms) Submit(ctx context.Context, orgID int64, w *vibemon.Waveform) error {
	w.OrgID = orgID
	return s.store.CreateWaveform(ctx, w)
}

func withWaveforms(c *Config) {
	c.Waveforms = storeWaveforms{c.Store}
	c.Health = HealthFunc(func(ctx context.Context, orgID, assetID int64) (any, error) {
		return map[string]any{"asset_id": assetID}, nil
	})
}

// burstBody returns a valid POST body of axes x samples int16 values.
func burstBody(axes, samples int) map[string]any {
	raw := make([]byte, 0, 2*axes*samples)
	for i := range axes * samples {
		raw = binary.LittleEndian.AppendUint16(raw, uint16(int16(i%2000-1000)))
	}
	return map[string]any{"ts": testNow.Add(-time.Minute).Format(time.RFC3339), "sample_rate_hz": 1000, "scale_g": 0.000488, "axes": axes,
		"data": base64.StdEncoding.EncodeToString(raw)}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestWaveformPostAndRead(t *testing.T) {
	e := newTestEnv(t, withWaveforms)
	a := e.newTenant(t, "acme")
	path := fmt.Sprintf("/api/v1/devices/%d/waveforms", a.device.ID)

	var created waveformJSON
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleEngineer), body: burstBody(3, 512)}).wantStatus(t, 201).decode(t, &created)
	if created.Samples != 512 || created.Axes != 3 || created.AnalysisStatus != "pending" || created.DeviceID != a.device.ID {
		t.Fatalf("created %+v, want 512 samples on 3 axes, pending", created)
	}
	var listed items[waveformJSON]
	e.do(t, request{method: "GET", path: path, token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &listed)
	if len(listed.Items) != 1 || listed.Items[0].ID != created.ID {
		t.Errorf("listed %+v, want the posted burst", listed.Items)
	}
	var detail map[string]any
	e.do(t, request{method: "GET", path: fmt.Sprintf("%s/%d", path, created.ID), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &detail)
	if detail["analysis_status"] != "pending" || detail["samples"] != float64(512) {
		t.Errorf("detail %v, want pending with 512 samples", detail)
	}
	var samples struct {
		Data string `json:"data"`
	}
	e.do(t, request{method: "GET", path: fmt.Sprintf("%s/%d/samples", path, created.ID), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &samples)
	if samples.Data != burstBody(3, 512)["data"] {
		t.Errorf("samples do not round-trip")
	}

	// Analysis results are served merged with the metadata.
	if err := e.store.SetWaveformAnalysis(context.Background(), a.org.ID, created.ID, vibemon.AnalysisDone, []byte(`{"rpm":1480,"diagnosis":[{"fault":"normal"}]}`)); err != nil {
		t.Fatal(err)
	}
	e.do(t, request{method: "GET", path: fmt.Sprintf("%s/%d", path, created.ID), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &detail)
	if detail["analysis_status"] != "done" || detail["rpm"] != float64(1480) || detail["id"] != float64(created.ID) {
		t.Errorf("detail %v, want done with the stored analysis", detail)
	}
	// A viewer may not post.
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleViewer), body: burstBody(1, 256)}).wantError(t, vibemon.EFORBIDDEN)
}

func TestWaveformBadInput(t *testing.T) {
	e := newTestEnv(t, withWaveforms)
	a := e.newTenant(t, "acme")
	path := fmt.Sprintf("/api/v1/devices/%d/waveforms", a.device.ID)
	good := burstBody(3, 256)
	huge := strings.Repeat("A", base64.StdEncoding.EncodedLen(2*3*vibemon.MaxWaveformSamples)+4)
	tests := []struct {
		name string
		body any
		code string
	}{
		{"not json", "{", vibemon.EINVALID},
		{"unknown field", with(good, "rate", 5), vibemon.EINVALID},
		{"missing ts", with(good, "ts", nil), vibemon.EINVALID},
		{"missing data", with(good, "data", nil), vibemon.EINVALID},
		{"missing scale", with(good, "scale_g", nil), vibemon.EINVALID},
		{"axes 4", with(good, "axes", 4), vibemon.EINVALID},
		{"axes 0", with(good, "axes", 0), vibemon.EINVALID},
		{"bad base64", with(good, "data", "not base64!"), vibemon.EINVALID},
		{"odd byte count", with(good, "data", base64.StdEncoding.EncodeToString(make([]byte, 1537))), vibemon.EINVALID},
		{"too few samples", burstBody(3, 100), vibemon.EINVALID},
		{"too many samples", with(good, "data", huge), vibemon.ETOOLARGE},
		{"rate too low", with(good, "sample_rate_hz", 10), vibemon.EINVALID},
		{"scale zero", with(good, "scale_g", 0), vibemon.EINVALID},
		{"ts in the future", with(good, "ts", testNow.Add(2*time.Hour).Format(time.RFC3339)), vibemon.EINVALID},
		{"ts not a time", with(good, "ts", "yesterday"), vibemon.EINVALID},
		{"sample rate a string", with(good, "sample_rate_hz", "fast"), vibemon.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleEngineer), body: tc.body}).wantError(t, tc.code)
		})
	}
	for _, q := range []string{"?limit=0", "?limit=5000", "?from=yesterday", "?from=2025-06-01T00:00:00Z&to=2025-05-01T00:00:00Z"} {
		e.do(t, request{method: "GET", path: path + q, token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.EINVALID)
	}
	e.do(t, request{method: "GET", path: path + "/abc", token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "GET", path: path + "/999", token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.ENOTFOUND)
	var n int
	ws, _ := e.store.ListWaveforms(context.Background(), a.org.ID, a.device.ID, testNow.Add(-48*time.Hour), time.Time{}, 0)
	n = len(ws)
	if n != 0 {
		t.Errorf("%d bursts stored after bad posts, want none", n)
	}
}

func TestWaveformTenancy(t *testing.T) {
	e := newTestEnv(t, withWaveforms)
	a := e.newTenant(t, "acme")
	b := e.newTenant(t, "bravo")
	var bw waveformJSON
	e.do(t, request{method: "POST", path: fmt.Sprintf("/api/v1/devices/%d/waveforms", b.device.ID), token: b.token(vibemon.RoleEngineer), body: burstBody(1, 256)}).
		wantStatus(t, 201).decode(t, &bw)
	tok := a.token(vibemon.RoleOwner)
	// A's device with B's waveform id, and B's device, are both 404.
	for _, p := range []string{
		fmt.Sprintf("/api/v1/devices/%d/waveforms/%d", a.device.ID, bw.ID),
		fmt.Sprintf("/api/v1/devices/%d/waveforms/%d/samples", a.device.ID, bw.ID),
		fmt.Sprintf("/api/v1/devices/%d/waveforms/%d", b.device.ID, bw.ID),
		fmt.Sprintf("/api/v1/devices/%d/waveforms", b.device.ID),
		fmt.Sprintf("/api/v1/assets/%d/health", b.asset.ID),
	} {
		e.do(t, request{method: "GET", path: p, token: tok}).wantError(t, vibemon.ENOTFOUND)
	}
	e.do(t, request{method: "POST", path: fmt.Sprintf("/api/v1/devices/%d/waveforms", b.device.ID), token: tok, body: burstBody(1, 256)}).wantError(t, vibemon.ENOTFOUND)
	var h map[string]any
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/assets/%d/health", a.asset.ID), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &h)
}

func TestWaveformRoutesWithoutAnalytics(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	e.do(t, request{method: "POST", path: fmt.Sprintf("/api/v1/devices/%d/waveforms", a.device.ID), token: a.token(vibemon.RoleEngineer), body: burstBody(1, 256)}).wantError(t, vibemon.EUNAVAILABLE)
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/assets/%d/health", a.asset.ID), token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.EUNAVAILABLE)
}
