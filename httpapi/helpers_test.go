package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/sqlite"
)

// testNow is the clock of every test server.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const testPassword = "correct horse battery"

// storeTelemetry is a small but real ingest pipeline: it validates each
// reading, checks its device is the org's and stores the batch.
type storeTelemetry struct {
	store vibemon.Store
	now   func() time.Time
}

func (p storeTelemetry) Ingest(ctx context.Context, orgID int64, rs []vibemon.Reading) (vibemon.IngestResult, error) {
	res := vibemon.IngestResult{Rejected: []vibemon.Rejection{}}
	owned := map[int64]bool{}
	var good []vibemon.Reading
	for i := range rs {
		if err := rs[i].Validate(p.now()); err != nil {
			res.Rejected = append(res.Rejected, vibemon.Rejection{Index: i, Code: vibemon.ErrorCode(err), Message: vibemon.ErrorMessage(err)})
			continue
		}
		ok, seen := owned[rs[i].DeviceID]
		if !seen {
			_, err := p.store.GetDevice(ctx, orgID, rs[i].DeviceID)
			if err != nil && vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
				return res, err
			}
			ok = err == nil
			owned[rs[i].DeviceID] = ok
		}
		if !ok {
			res.Rejected = append(res.Rejected, vibemon.Rejection{Index: i, Code: vibemon.ENOTFOUND, Message: fmt.Sprintf("Device %d is not a device of your organization.", rs[i].DeviceID)})
			continue
		}
		good = append(good, rs[i])
	}
	if len(good) == 0 {
		return res, nil
	}
	isNew, err := p.store.InsertReadings(ctx, orgID, good)
	if err != nil {
		return res, err
	}
	for _, n := range isNew {
		if n {
			res.Accepted++
		} else {
			res.Duplicates++
		}
	}
	return res, nil
}

// testEnv is a server over a real SQLite store in a temporary directory.
type testEnv struct {
	store    *sqlite.Store
	issuer   *auth.Issuer
	registry *prometheus.Registry
	srv      *httptest.Server
	cfg      Config
}

// newTestEnv starts a test server; edit adjusts its Config first.
func newTestEnv(t *testing.T, edit ...func(*Config)) *testEnv {
	t.Helper()
	now := func() time.Time { return testNow }
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "vibemon.db"), sqlite.Options{Now: now, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	e := &testEnv{store: st, registry: reg, issuer: auth.NewIssuer([]byte("test secret, 32 bytes long......"), now, 0, 0)}
	e.cfg = Config{
		Store:          st,
		Telemetry:      storeTelemetry{store: st, now: now},
		Issuer:         e.issuer,
		Now:            now,
		Registerer:     reg,
		PasswordParams: auth.TestParams,
		MaxBodyBytes:   1 << 20,
		MaxBatch:       100,
	}
	for _, f := range edit {
		f(&e.cfg)
	}
	e.srv = httptest.NewServer(NewServer(e.cfg))
	t.Cleanup(e.srv.Close)
	return e
}

// tenant is an org with one of everything.
type tenant struct {
	org    *vibemon.Org
	users  map[vibemon.Role]*vibemon.User
	tokens map[vibemon.Role]string // access tokens
	asset  *vibemon.Asset
	device *vibemon.Device
	rule   *vibemon.Rule
	alert  *vibemon.Alert
}

// token returns an access token of the tenant's user with role.
func (tn *tenant) token(role vibemon.Role) string { return tn.tokens[role] }

// newTenant creates an org with a user of each role (e-mails
// <role>@<name>.test), an asset, a device on it, a rule and an open alert.
func (e *testEnv) newTenant(t *testing.T, name string) *tenant {
	t.Helper()
	ctx := context.Background()
	tn := &tenant{org: &vibemon.Org{Name: name}, users: map[vibemon.Role]*vibemon.User{}, tokens: map[vibemon.Role]string{}}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("create org", e.store.CreateOrg(ctx, tn.org))
	hash, err := auth.TestParams.Hash(testPassword)
	must("hash", err)
	for _, role := range []vibemon.Role{vibemon.RoleOwner, vibemon.RoleAdmin, vibemon.RoleEngineer, vibemon.RoleViewer} {
		u := &vibemon.User{OrgID: tn.org.ID, Email: fmt.Sprintf("%s@%s.test", role, name), Name: string(role), Role: role, PasswordHash: hash}
		must("create user", e.store.CreateUser(ctx, u))
		tok, _, err := e.issuer.Issue(u)
		must("issue", err)
		tn.users[role], tn.tokens[role] = u, tok.AccessToken
	}
	tn.asset = &vibemon.Asset{OrgID: tn.org.ID, Name: name + " pump", Type: "pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must("create asset", e.store.CreateAsset(ctx, tn.asset))
	tn.device = &vibemon.Device{OrgID: tn.org.ID, AssetID: tn.asset.ID, Serial: name + "-node-1", Name: "DE bearing"}
	_, err = e.store.RegisterDevice(ctx, tn.device)
	must("register device", err)
	r := vibemon.NewReading(tn.device.ID, 1, testNow.Add(-time.Minute))
	r.Values[vibemon.VelRMSX] = 7.5
	_, err = e.store.InsertReadings(ctx, tn.org.ID, []vibemon.Reading{r})
	must("insert reading", err)
	tn.rule = &vibemon.Rule{OrgID: tn.org.ID, Name: "vel high", AssetID: tn.asset.ID, Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: 6, Severity: vibemon.SeverityWarning, Enabled: true}
	must("create rule", e.store.CreateRule(ctx, tn.rule))
	tn.alert = &vibemon.Alert{OrgID: tn.org.ID, RuleID: tn.rule.ID, DeviceID: tn.device.ID, AssetID: tn.asset.ID, Severity: vibemon.SeverityWarning,
		Status: vibemon.AlertOpen, Metric: "vel_rms_x", Value: 7.5, Peak: 7.5, Threshold: 7.1, Message: "vel_rms_x above 7.1", OpenedAt: testNow, UpdatedAt: testNow}
	_, err = e.store.UpsertAlert(ctx, tn.alert)
	must("upsert alert", err)
	return tn
}

// request is one call to the test server.
type request struct {
	method, path, token string
	body                any // marshalled as JSON unless []byte or string
	header              map[string]string
	gzip                bool
}

// response is the answer, with the body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends req and reads the answer.
func (e *testEnv) do(t *testing.T, req request) response {
	t.Helper()
	var body []byte
	switch b := req.body.(type) {
	case nil:
	case []byte:
		body = b
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	if req.gzip {
		body = gzipBytes(t, body)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequest(req.method, e.srv.URL+req.path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.gzip {
		hr.Header.Set("Content-Encoding", "gzip")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeJSON decodes the body into v or fails.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantStatus fails unless the status is want.
func (r response) wantStatus(t *testing.T, want int) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

// wantError fails unless the answer is the JSON error with code and its
// status.
func (r response) wantError(t *testing.T, code string) errorDetail {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("body %q is not a JSON error (status %d)", r.body, r.status)
	}
	if b.Error.Code != code || r.status != statusOf(code) {
		t.Fatalf("error = %d %q (%s), want %d %q", r.status, b.Error.Code, b.Error.Message, statusOf(code), code)
	}
	return b.Error
}

// reading returns a wire reading of device with one metric.
func reading(deviceID, seq int64, extra ...any) map[string]any {
	r := map[string]any{"device_id": deviceID, "seq": seq, "ts": testNow.Add(-time.Duration(seq) * time.Second).Format(time.RFC3339), "vel_rms_x": 1.5}
	for i := 0; i+1 < len(extra); i += 2 {
		r[extra[i].(string)] = extra[i+1]
	}
	return r
}

// expand replaces %name placeholders of path with ids.
func expand(path string, ids map[string]int64) string {
	for k, v := range ids {
		path = strings.ReplaceAll(path, k, strconv.FormatInt(v, 10))
	}
	return path
}

// counter returns the value of the counter (summed over labels) on the
// env's registry, 0 when it has no samples.
func (e *testEnv) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
