package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

// outerRaceBurstBody returns a POST /devices/{id}/waveforms body: one
// second of a piezo sensor on a 1480 rpm machine whose 6205 bearing has a
// developed outer race defect.
func outerRaceBurstBody(t *testing.T, ts time.Time) map[string]any {
	t.Helper()
	x, rate := sim.PiezoSecond(1480, dsp.FaultOuterRace, sim.SeverityHigh, 42)
	data, scale := analysis.Quantize(x[:])
	raw := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	return map[string]any{"ts": ts.Format(time.RFC3339), "sample_rate_hz": rate, "scale_g": scale, "axes": 3,
		"data": base64.StdEncoding.EncodeToString(raw)}
}

func TestServeAnalysesPostedBurstAndReportsHealth(t *testing.T) {
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)

	var asset struct{ ID int64 }
	if st := c.do("POST", "/api/v1/assets", map[string]any{"name": "Feed pump", "type": "pump", "rpm": 1480, "iso_group": 2, "foundation": "rigid", "bearing": "6205"}, &asset); st != 201 {
		t.Fatalf("create asset: status %d", st)
	}
	var dev struct{ ID int64 }
	if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": "AA:BB:CC:00:00:09", "name": "DE bearing", "asset_id": asset.ID}, &dev); st != 201 {
		t.Fatalf("register device: status %d", st)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var readings []map[string]any
	for i := range 30 {
		readings = append(readings, map[string]any{"device_id": dev.ID, "seq": i, "ts": now.Add(time.Duration(i-30) * time.Minute).Format(time.RFC3339),
			"vel_rms_x": 3.1, "vel_rms_y": 2.0, "vel_rms_z": 1.2})
	}
	if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": readings}, nil); st != 200 {
		t.Fatalf("ingest: status %d", st)
	}

	var created struct {
		ID             int64  `json:"id"`
		Samples        int    `json:"samples"`
		AnalysisStatus string `json:"analysis_status"`
	}
	if st := c.do("POST", fmt.Sprintf("/api/v1/devices/%d/waveforms", dev.ID), outerRaceBurstBody(t, now), &created); st != 201 {
		t.Fatalf("post waveform: status %d", st)
	}
	if created.Samples != 12800 || created.AnalysisStatus != "pending" {
		t.Errorf("created %+v, want 12800 samples pending", created)
	}

	type finding struct {
		Fault      string  `json:"fault"`
		Confidence float64 `json:"confidence"`
	}
	var got struct {
		AnalysisStatus string    `json:"analysis_status"`
		RPMSource      string    `json:"rpm_source"`
		Diagnosis      []finding `json:"diagnosis"`
		Error          string    `json:"error"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st := c.do("GET", fmt.Sprintf("/api/v1/devices/%d/waveforms/%d", dev.ID, created.ID), nil, &got); st != 200 {
			t.Fatalf("get waveform: status %d", st)
		}
		if got.AnalysisStatus != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.AnalysisStatus != "done" {
		t.Fatalf("analysis_status = %q (%s) 20 s after posting, want done", got.AnalysisStatus, got.Error)
	}
	found := false
	for _, f := range got.Diagnosis {
		found = found || f.Fault == dsp.FaultOuterRace
	}
	if !found || got.RPMSource != "asset" {
		t.Errorf("diagnosis %+v (rpm from %q), want bearing_outer_race with the asset's rpm", got.Diagnosis, got.RPMSource)
	}

	var health struct {
		AssetID int64 `json:"asset_id"`
		ISO     struct {
			Zone   *string  `json:"zone"`
			VelRMS *float64 `json:"vel_rms_mm_s"`
		} `json:"iso"`
		Diagnosis *struct {
			WaveformID int64 `json:"waveform_id"`
		} `json:"diagnosis"`
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/assets/%d/health", asset.ID), nil, &health); st != 200 {
		t.Fatalf("asset health: status %d", st)
	}
	// 3.1 mm/s is zone C (2.8..4.5) for group 2 on a rigid foundation.
	if health.ISO.Zone == nil || *health.ISO.Zone != "C" {
		t.Errorf("iso zone = %v, want C for 3.1 mm/s", health.ISO.Zone)
	}
	if health.Diagnosis == nil || health.Diagnosis.WaveformID != created.ID {
		t.Errorf("health diagnosis = %+v, want the posted burst's", health.Diagnosis)
	}

	var alerts struct {
		Items []struct {
			DeviceID int64  `json:"device_id"`
			Message  string `json:"message"`
		} `json:"items"`
	}
	if st := c.do("GET", "/api/v1/alerts", nil, &alerts); st != 200 || len(alerts.Items) == 0 {
		t.Errorf("alerts: status %d, %d alerts; want the diagnosis alert", st, len(alerts.Items))
	}
}
