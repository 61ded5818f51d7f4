package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// newWaveform returns a valid two-axis burst of device at ts.
func newWaveform(orgID, deviceID int64, ts time.Time) *vibemon.Waveform {
	w := &vibemon.Waveform{OrgID: orgID, DeviceID: deviceID, TS: ts, SampleRateHz: 1000, Axes: 2, Samples: 256, Scale: 1.0 / 2048}
	w.Data = make([]int16, w.Axes*w.Samples)
	for i := range w.Data {
		w.Data[i] = int16(i*37 - 9000) // covers negative and positive values
	}
	w.Data[1] = -32768
	w.Data[2] = 32767
	return w
}

func createWaveform(t *testing.T, s vibemon.Store, w *vibemon.Waveform) *vibemon.Waveform {
	t.Helper()
	must(t, s.CreateWaveform(ctx(t), w))
	return w
}

func testWaveformRoundTrip(t *testing.T, s vibemon.Store) {
	tn := newTenant(t, s, "acme")
	in := createWaveform(t, s, newWaveform(tn.org.ID, tn.device.ID, base))
	if in.ID == 0 || in.AnalysisStatus != vibemon.AnalysisPending {
		t.Fatalf("created waveform: id %d status %q, want an id and %q", in.ID, in.AnalysisStatus, vibemon.AnalysisPending)
	}
	got, err := s.GetWaveform(ctx(t), tn.org.ID, in.ID)
	must(t, err)
	if !slices.Equal(got.Data, in.Data) {
		t.Errorf("data does not round-trip: got %v..., want %v...", got.Data[:4], in.Data[:4])
	}
	if got.DeviceID != in.DeviceID || !got.TS.Equal(base) || got.SampleRateHz != 1000 || got.Axes != 2 || got.Samples != 256 || got.Scale != in.Scale {
		t.Errorf("got %+v, want the stored metadata of %+v", got, in)
	}
	if got.AnalysisStatus != vibemon.AnalysisPending || got.Analysis != nil {
		t.Errorf("new waveform: status %q analysis %q, want pending and none", got.AnalysisStatus, got.Analysis)
	}

	bad := newWaveform(tn.org.ID, tn.device.ID, base)
	bad.Data = bad.Data[:10]
	wantCode(t, s.CreateWaveform(ctx(t), bad), vibemon.EINVALID)
}

func testWaveformAnalysis(t *testing.T, s vibemon.Store) {
	tn := newTenant(t, s, "acme")
	w := createWaveform(t, s, newWaveform(tn.org.ID, tn.device.ID, base))
	doc := []byte(`{"diagnosis":[{"fault":"bearing_outer_race"}]}`)
	must(t, s.SetWaveformAnalysis(ctx(t), tn.org.ID, w.ID, vibemon.AnalysisDone, doc))
	got, err := s.GetWaveform(ctx(t), tn.org.ID, w.ID)
	must(t, err)
	if got.AnalysisStatus != vibemon.AnalysisDone || !bytes.Equal(got.Analysis, doc) {
		t.Errorf("after done: status %q analysis %s, want done and %s", got.AnalysisStatus, got.Analysis, doc)
	}
	// A retried job may record the outcome again.
	must(t, s.SetWaveformAnalysis(ctx(t), tn.org.ID, w.ID, vibemon.AnalysisFailed, []byte("boom")))
	got, err = s.GetWaveform(ctx(t), tn.org.ID, w.ID)
	must(t, err)
	if got.AnalysisStatus != vibemon.AnalysisFailed || string(got.Analysis) != "boom" {
		t.Errorf("after failed: status %q analysis %q, want failed and boom", got.AnalysisStatus, got.Analysis)
	}
	wantCode(t, s.SetWaveformAnalysis(ctx(t), tn.org.ID, w.ID, "finished", nil), vibemon.EINVALID)
	wantCode(t, s.SetWaveformAnalysis(ctx(t), tn.org.ID, w.ID+100, vibemon.AnalysisDone, nil), vibemon.ENOTFOUND)
}

func testWaveformList(t *testing.T, s vibemon.Store) {
	tn := newTenant(t, s, "acme")
	other := tn.addDevice(t, s, "node-2")
	var ids []int64 // by time
	for i := range 5 {
		w := createWaveform(t, s, newWaveform(tn.org.ID, tn.device.ID, base.Add(time.Duration(i)*time.Hour)))
		ids = append(ids, w.ID)
	}
	createWaveform(t, s, newWaveform(tn.org.ID, other.ID, base.Add(2*time.Hour)))
	idsOf := func(ws []*vibemon.Waveform) []int64 {
		var out []int64
		for _, w := range ws {
			if w.Data != nil || w.Analysis != nil {
				t.Errorf("listing of waveform %d carries data or analysis", w.ID)
			}
			out = append(out, w.ID)
		}
		return out
	}
	tests := []struct {
		name     string
		from, to time.Time
		limit    int
		want     []int64
	}{
		{"all newest first", base.Add(-time.Hour), base.Add(10 * time.Hour), 0, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"from inclusive to exclusive", base.Add(time.Hour), base.Add(3 * time.Hour), 0, []int64{ids[2], ids[1]}},
		{"limit keeps newest", base, base.Add(10 * time.Hour), 2, []int64{ids[4], ids[3]}},
		{"zero to means no upper bound", base.Add(4 * time.Hour), time.Time{}, 0, []int64{ids[4]}},
		{"empty range", base.Add(20 * time.Hour), base.Add(30 * time.Hour), 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListWaveforms(ctx(t), tn.org.ID, tn.device.ID, tc.from, tc.to, tc.limit)
			must(t, err)
			if g := idsOf(got); !slices.Equal(g, tc.want) {
				t.Errorf("got ids %v, want %v", g, tc.want)
			}
		})
	}
}

func testWaveformTenancy(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	wb := createWaveform(t, s, newWaveform(b.org.ID, b.device.ID, base))

	// A cannot store a burst for B's device, nor read, list or change B's.
	wantCode(t, s.CreateWaveform(ctx(t), newWaveform(a.org.ID, b.device.ID, base)), vibemon.ENOTFOUND)
	_, err := s.GetWaveform(ctx(t), a.org.ID, wb.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.ListWaveforms(ctx(t), a.org.ID, b.device.ID, base.Add(-time.Hour), base.Add(time.Hour), 0)
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.SetWaveformAnalysis(ctx(t), a.org.ID, wb.ID, vibemon.AnalysisDone, []byte("{}")), vibemon.ENOTFOUND)
	got, err := s.GetWaveform(ctx(t), b.org.ID, wb.ID)
	must(t, err)
	if got.AnalysisStatus != vibemon.AnalysisPending {
		t.Errorf("B's waveform status = %q after A's attempt, want pending", got.AnalysisStatus)
	}

	// Deleting the device deletes its bursts and models.
	must(t, s.SaveModel(ctx(t), &vibemon.Model{OrgID: b.org.ID, DeviceID: b.device.ID, Kind: "iforest", Data: []byte{1}, Rows: 1, TrainedAt: base}))
	must(t, s.DeleteDevice(ctx(t), b.org.ID, b.device.ID))
	_, err = s.GetWaveform(ctx(t), b.org.ID, wb.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	_, err = s.GetModel(ctx(t), b.org.ID, b.device.ID, "iforest")
	wantCode(t, err, vibemon.ENOTFOUND)
}

func testModels(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	_, err := s.GetModel(ctx(t), a.org.ID, a.device.ID, "iforest")
	wantCode(t, err, vibemon.ENOTFOUND)

	first := &vibemon.Model{OrgID: a.org.ID, DeviceID: a.device.ID, Kind: "iforest", Data: []byte("v1"), Rows: 100, TrainedAt: base}
	must(t, s.SaveModel(ctx(t), first))
	second := &vibemon.Model{OrgID: a.org.ID, DeviceID: a.device.ID, Kind: "iforest", Data: []byte("v2"), Rows: 200, TrainedAt: base.Add(24 * time.Hour)}
	must(t, s.SaveModel(ctx(t), second))
	must(t, s.SaveModel(ctx(t), &vibemon.Model{OrgID: a.org.ID, DeviceID: a.device.ID, Kind: "other", Data: []byte("o"), Rows: 1, TrainedAt: base}))

	got, err := s.GetModel(ctx(t), a.org.ID, a.device.ID, "iforest")
	must(t, err)
	if string(got.Data) != "v2" || got.Rows != 200 || !got.TrainedAt.Equal(second.TrainedAt) || got.Kind != "iforest" {
		t.Errorf("after replace got %+v, want the second model", got)
	}
	got, err = s.GetModel(ctx(t), a.org.ID, a.device.ID, "other")
	must(t, err)
	if string(got.Data) != "o" {
		t.Errorf("model of another kind = %q, want o", got.Data)
	}

	// Tenancy: B can neither save a model for A's device nor read A's.
	wantCode(t, s.SaveModel(ctx(t), &vibemon.Model{OrgID: b.org.ID, DeviceID: a.device.ID, Kind: "iforest", Data: []byte("x"), TrainedAt: base}), vibemon.ENOTFOUND)
	_, err = s.GetModel(ctx(t), b.org.ID, a.device.ID, "iforest")
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.SaveModel(ctx(t), &vibemon.Model{OrgID: a.org.ID, DeviceID: a.device.ID, Data: []byte("x")}), vibemon.EINVALID)
}
