package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

type ingestAnswer struct {
	Accepted   int                 `json:"accepted"`
	Duplicates int                 `json:"duplicates"`
	Rejected   []vibemon.Rejection `json:"rejected"`
}

func (e *testEnv) countReadings(t *testing.T, tn *tenant) int {
	t.Helper()
	pts, err := e.store.QueryReadings(context.Background(), tn.org.ID, vibemon.ReadingQuery{
		DeviceID: tn.device.ID, From: testNow.Add(-48 * time.Hour), To: testNow.Add(2 * time.Hour), Bucket: vibemon.BucketRaw,
	})
	if err != nil {
		t.Fatalf("query readings: %v", err)
	}
	return len(pts)
}

func TestIngestIsIdempotent(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	before := e.countReadings(t, a)
	batch := map[string]any{"readings": []any{reading(a.device.ID, 10), reading(a.device.ID, 11), reading(a.device.ID, 12, "temp_c", 41.5)}}
	post := func() ingestAnswer {
		var got ingestAnswer
		e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: a.token(vibemon.RoleEngineer), body: batch}).
			wantStatus(t, 200).decode(t, &got)
		return got
	}
	if got := post(); got.Accepted != 3 || got.Duplicates != 0 || len(got.Rejected) != 0 {
		t.Fatalf("first post = %+v, want 3 accepted", got)
	}
	if got := post(); got.Accepted != 0 || got.Duplicates != 3 || len(got.Rejected) != 0 {
		t.Fatalf("second post = %+v, want 3 duplicates", got)
	}
	if got, want := e.countReadings(t, a), before+3; got != want {
		t.Errorf("stored readings = %d, want %d", got, want)
	}
	if got := e.counter(t, "vibemon_readings_accepted_total"); got != 3 {
		t.Errorf("readings_accepted = %v, want 3", got)
	}
	if got := e.counter(t, "vibemon_readings_duplicates_total"); got != 3 {
		t.Errorf("readings_duplicates = %v, want 3", got)
	}
}

func TestIngestMixedBatch(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	b := e.newTenant(t, "bravo")
	before, beforeB := e.countReadings(t, a), e.countReadings(t, b)
	readings := []any{
		reading(a.device.ID, 20),                    // 0 good
		reading(a.device.ID, 21, "vel_rms_x", -1),   // 1 out of range
		reading(a.device.ID, 22, "vel_rms_q", 1),    // 2 unknown metric
		reading(b.device.ID, 23),                    // 3 other org's device
		reading(999999, 24),                         // 4 unknown device
		reading(a.device.ID, 25, "seq", "x"),        // 5 wrong type
		reading(a.device.ID, 26, "ts", "yesterday"), // 6 bad time
		"not an object",                             // 7
		reading(a.device.ID, 27),                    // 8 good
		map[string]any{"device_id": a.device.ID, "seq": 28, "ts": testNow.Format(time.RFC3339)}, // 9 no metric
		reading(a.device.ID, 29, "ts", testNow.Add(3*time.Hour).Format(time.RFC3339)),           // 10 future
		reading(a.device.ID, 30, "device_id", 1.5),                                              // 11 fractional id
		reading(a.device.ID, 31, "acc_rms_x", nil),                                              // 12 good: null is "not measured"
	}
	var got ingestAnswer
	e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: a.token(vibemon.RoleEngineer), body: map[string]any{"readings": readings}}).
		wantStatus(t, 200).decode(t, &got)
	wantRejected := map[int]string{1: "invalid", 2: "invalid", 3: "not_found", 4: "not_found", 5: "invalid", 6: "invalid", 7: "invalid", 9: "invalid", 10: "invalid", 11: "invalid"}
	if got.Accepted != 3 || got.Duplicates != 0 || len(got.Rejected) != len(wantRejected) {
		t.Fatalf("answer = %+v, want 3 accepted and %d rejected", got, len(wantRejected))
	}
	for i, rj := range got.Rejected {
		if i > 0 && got.Rejected[i-1].Index >= rj.Index {
			t.Errorf("rejections not in index order: %+v", got.Rejected)
		}
		if want, ok := wantRejected[rj.Index]; !ok || rj.Code != want || rj.Message == "" {
			t.Errorf("rejected[%d] = %+v, want code %q", rj.Index, rj, want)
		}
	}
	for _, rj := range got.Rejected {
		if rj.Index == 2 && !strings.Contains(rj.Message, "vel_rms_q") {
			t.Errorf("unknown metric message %q does not name the field", rj.Message)
		}
	}
	if got, want := e.countReadings(t, a), before+3; got != want {
		t.Errorf("org A readings = %d, want %d", got, want)
	}
	if got := e.countReadings(t, b); got != beforeB {
		t.Errorf("org B readings = %d, want %d (unchanged)", got, beforeB)
	}
	if got := e.counter(t, "vibemon_readings_rejected_total"); got != float64(len(wantRejected)) {
		t.Errorf("readings_rejected = %v, want %d", got, len(wantRejected))
	}
}

func TestIngestBadInput(t *testing.T) {
	e := newTestEnv(t) // MaxBatch 100, MaxBodyBytes 1 MiB
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)
	good := map[string]any{"readings": []any{reading(a.device.ID, 40)}}
	many := make([]any, 101)
	for i := range many {
		many[i] = reading(a.device.ID, int64(100+i))
	}
	bomb := gzipBytes(t, append(append([]byte(`{"readings":[`), bytes.Repeat([]byte(" "), 4<<20)...), "]}"...))
	tests := []struct {
		name string
		req  request
		code string
		in   string // the message must contain this
	}{
		{"bad JSON", request{body: `{"readings":[`}, vibemon.EINVALID, ""},
		{"not an object", request{body: `[1,2]`}, vibemon.EINVALID, ""},
		{"readings of the wrong type", request{body: `{"readings":{"a":1}}`}, vibemon.EINVALID, "readings"},
		{"unknown top-level field", request{body: `{"readings":[],"gateway":"x"}`}, vibemon.EINVALID, "gateway"},
		{"two values", request{body: `{"readings":[]}{"readings":[]}`}, vibemon.EINVALID, "single"},
		{"empty body", request{body: ``}, vibemon.EINVALID, ""},
		{"empty batch", request{body: `{"readings":[]}`}, vibemon.EINVALID, "readings"},
		{"no readings field", request{body: `{}`}, vibemon.EINVALID, "readings"},
		{"oversize batch", request{body: map[string]any{"readings": many}}, vibemon.ETOOLARGE, "100"},
		{"oversize body", request{body: `{"readings":["` + strings.Repeat("x", 2<<20) + `"]}`}, vibemon.ETOOLARGE, ""},
		{"bad token", request{token: "nope", body: good}, vibemon.EUNAUTHORIZED, ""},
		{"no token", request{token: "-", body: good}, vibemon.EUNAUTHORIZED, ""},
		{"gzip bomb", request{body: bomb, header: map[string]string{"Content-Encoding": "gzip"}}, vibemon.ETOOLARGE, ""},
		{"gzip header but plain body", request{body: good, header: map[string]string{"Content-Encoding": "gzip"}}, vibemon.EINVALID, "gzip"},
		{"truncated gzip", request{body: gzipBytes(t, []byte(`{"readings":[]}`))[:15], header: map[string]string{"Content-Encoding": "gzip"}}, vibemon.EINVALID, ""},
		{"unknown encoding", request{body: good, header: map[string]string{"Content-Encoding": "br"}}, vibemon.EINVALID, "br"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.method, tt.req.path = "POST", "/api/v1/telemetry"
			switch tt.req.token {
			case "":
				tt.req.token = tok
			case "-":
				tt.req.token = ""
			}
			d := e.do(t, tt.req).wantError(t, tt.code)
			if !strings.Contains(d.Message, tt.in) {
				t.Errorf("message %q does not contain %q", d.Message, tt.in)
			}
		})
	}
	t.Run("gzip body", func(t *testing.T) {
		var got ingestAnswer
		e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: tok, body: good, gzip: true}).wantStatus(t, 200).decode(t, &got)
		if got.Accepted != 1 {
			t.Fatalf("gzip answer = %+v, want 1 accepted", got)
		}
	})
	if got := e.countReadings(t, a); got != 2 {
		t.Errorf("stored readings = %d, want 2 (the fixture's and the gzip one)", got)
	}
}

func TestTelemetryQuery(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleViewer)
	var rs []any
	for i := int64(0); i < 90; i++ { // one a minute for the last 90 minutes
		rs = append(rs, map[string]any{"device_id": a.device.ID, "seq": 1000 + i, "ts": testNow.Add(-time.Duration(91-i) * time.Minute).Format(time.RFC3339),
			"vel_rms_x": float64(i) / 10, "temp_c": 40})
	}
	e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: a.token(vibemon.RoleEngineer), body: map[string]any{"readings": rs}}).wantStatus(t, 200)

	type answer struct {
		Bucket  string            `json:"bucket"`
		Metrics []string          `json:"metrics"`
		Items   []json.RawMessage `json:"items"`
	}
	path := fmt.Sprintf("/api/v1/devices/%d/telemetry", a.device.ID)
	var raw answer
	e.do(t, request{method: "GET", path: path + "?from=" + testNow.Add(-3*time.Hour).Format(time.RFC3339) + "&metrics=vel_rms_x,temp_c", token: tok}).
		wantStatus(t, 200).decode(t, &raw)
	if raw.Bucket != "raw" || len(raw.Metrics) != 2 || len(raw.Items) != 91 {
		t.Fatalf("3 h query: bucket %q, metrics %v, %d items; want raw, 2 metrics, 91 items", raw.Bucket, raw.Metrics, len(raw.Items))
	}
	var item struct {
		TS     time.Time           `json:"ts"`
		Seq    int64               `json:"seq"`
		Values map[string]*float64 `json:"values"`
	}
	if err := json.Unmarshal(raw.Items[len(raw.Items)-2], &item); err != nil {
		t.Fatal(err)
	}
	if item.Seq != 1089 || item.Values["vel_rms_x"] == nil || *item.Values["vel_rms_x"] != 8.9 || len(item.Values) != 2 {
		t.Errorf("second last raw item = %s, want seq 1089 with vel_rms_x 8.9", raw.Items[len(raw.Items)-2])
	}
	if got, want := string(raw.Items[len(raw.Items)-1]), `{"ts":"2025-06-01T11:59:00Z","seq":1,"values":{"vel_rms_x":7.5,"temp_c":null}}`; got != want {
		t.Errorf("last raw item = %s, want %s (the fixture's, temp_c not measured)", got, want)
	}

	var def answer // defaults: last 24 h, so 1m buckets
	e.do(t, request{method: "GET", path: path, token: tok}).wantStatus(t, 200).decode(t, &def)
	if def.Bucket != "1m" || len(def.Metrics) != vibemon.NumMetrics || len(def.Items) == 0 {
		t.Fatalf("default query: bucket %q, %d metrics, %d items", def.Bucket, len(def.Metrics), len(def.Items))
	}
	var bucket struct {
		Count int64               `json:"count"`
		Avg   map[string]*float64 `json:"avg"`
		Min   map[string]*float64 `json:"min"`
		Max   map[string]*float64 `json:"max"`
	}
	if err := json.Unmarshal(def.Items[0], &bucket); err != nil {
		t.Fatal(err)
	}
	if bucket.Count < 1 || bucket.Avg["temp_c"] == nil || bucket.Avg["acc_rms_x"] != nil {
		t.Errorf("bucket item %s: want a count, temp_c and a null acc_rms_x", def.Items[0])
	}

	var latest struct {
		Seq    int64               `json:"seq"`
		Values map[string]*float64 `json:"values"`
	}
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/devices/%d/latest", a.device.ID), token: tok}).wantStatus(t, 200).decode(t, &latest)
	if latest.Seq != 1 || latest.Values["vel_rms_x"] == nil || *latest.Values["vel_rms_x"] != 7.5 {
		// The fixture's reading (seq 1, one minute ago) is the newest.
		t.Errorf("latest = %+v, want the fixture's seq 1", latest)
	}

	bad := []struct{ query, names string }{
		{"?from=yesterday", "from"},
		{"?to=2025-13-01T00:00:00Z", "to"},
		{"?from=2025-06-01T12:00:00Z&to=2025-06-01T11:00:00Z", "from"},
		{"?bucket=5m", "bucket"},
		{"?metrics=vel_rms_x,speed", "speed"},
		{"?limit=0", "limit"},
		{"?limit=many", "limit"},
	}
	for _, tt := range bad {
		t.Run(tt.query, func(t *testing.T) {
			d := e.do(t, request{method: "GET", path: path + tt.query, token: tok}).wantError(t, vibemon.EINVALID)
			if !strings.Contains(d.Message, tt.names) {
				t.Errorf("message %q does not name %q", d.Message, tt.names)
			}
		})
	}
}

func TestAutoBucket(t *testing.T) {
	tests := []struct {
		rng   time.Duration
		limit int
		want  vibemon.Bucket
	}{
		{time.Hour, 10000, "raw"},
		{6 * time.Hour, 10000, "raw"},
		{24 * time.Hour, 10000, "1m"},
		{6 * 24 * time.Hour, 10000, "1m"},
		{7 * 24 * time.Hour, 10000, "1h"},
		{365 * 24 * time.Hour, 10000, "1h"},
		{2 * 365 * 24 * time.Hour, 10000, "1d"},
		{24 * time.Hour, 1000, "1h"},
	}
	for _, tt := range tests {
		if got := autoBucket(tt.rng, tt.limit); got != tt.want {
			t.Errorf("autoBucket(%v, %d) = %q, want %q", tt.rng, tt.limit, got, tt.want)
		}
	}
}
