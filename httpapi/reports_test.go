package httpapi

import (
	"context"
	"encoding/csv"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/report"
)

// withReports wires GET /reports/condition to the real report builder.
func withReports(c *Config) {
	clock := func() time.Time { return testNow }
	b := &report.Builder{Store: c.Store, Analysis: &analysis.Service{Store: c.Store, Now: clock}, Now: clock}
	c.Reports = ConditionReportFunc(func(ctx context.Context, orgID int64, from, to time.Time) (CSVWriter, error) {
		r, err := b.Build(ctx, orgID, from, to)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
}

func TestConditionReportEndpoint(t *testing.T) {
	e := newTestEnv(t, withReports)
	a, b := e.newTenant(t, "acme"), e.newTenant(t, "globex")
	tok := a.token(vibemon.RoleViewer)

	// JSON: the caller's machines only; the pump at 7.5 mm/s (zone D) with
	// its open alert comes first, to act on.
	var rep report.Report
	e.do(t, request{method: "GET", path: "/api/v1/reports/condition", token: tok}).wantStatus(t, 200).decode(t, &rep)
	if len(rep.Machines) != 1 || rep.Machines[0].AssetID != a.asset.ID {
		t.Fatalf("machines = %+v, want acme's pump only (not globex's %d)", rep.Machines, b.asset.ID)
	}
	if m := rep.Machines[0]; m.Condition != report.ConditionAct || m.OpenNow != 1 {
		t.Errorf("pump: %s (%q), open %d; want act with 1 open alert", m.Condition, m.Reasons, m.OpenNow)
	}
	if !rep.To.Equal(testNow) || !rep.From.Equal(testNow.AddDate(0, 0, -30)) {
		t.Errorf("period = %v to %v, want the 30 days up to now", rep.From, rep.To)
	}

	// The same as CSV, for a spreadsheet, by parameter or by Accept.
	for _, req := range []request{
		{method: "GET", path: "/api/v1/reports/condition?days=7&format=csv", token: tok},
		{method: "GET", path: "/api/v1/reports/condition?days=7", token: tok, header: map[string]string{"Accept": "text/csv"}},
	} {
		res := e.do(t, req).wantStatus(t, 200)
		if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("%s: content type %q, want text/csv", req.path, ct)
		}
		if cd := res.header.Get("Content-Disposition"); cd != `attachment; filename="vibemon-condition-2025-05-25-to-2025-06-01.csv"` {
			t.Errorf("%s: disposition %q", req.path, cd)
		}
		rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
		if err != nil || len(rows) != 2 || rows[1][0] != "acme pump" || rows[1][4] != "act" {
			t.Errorf("%s: csv %q (%v), want a header and acme's pump to act on", req.path, rows, err)
		}
	}

	// A script with a viewer API key gets the same, as docs/reports.md shows.
	var key struct{ Key string }
	e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: a.token(vibemon.RoleAdmin), body: map[string]any{"name": "weekly report", "role": "viewer"}}).
		wantStatus(t, 201).decode(t, &key)
	if res := e.do(t, request{method: "GET", path: "/api/v1/reports/condition?days=7&format=csv", token: key.Key}).wantStatus(t, 200); !strings.Contains(string(res.body), "acme pump") {
		t.Errorf("csv with an API key = %q, want acme's pump", res.body)
	}

	// Explicit periods: the alert (opened now) is in the one that ends in
	// an hour, not in the one that ended yesterday.
	e.do(t, request{method: "GET", path: "/api/v1/reports/condition?days=1&to=" + testNow.Add(time.Hour).Format(time.RFC3339), token: tok}).wantStatus(t, 200).decode(t, &rep)
	if m := rep.Machines[0]; m.AlertsOpened != 1 || m.WorstVelRMS == nil || *m.WorstVelRMS != 7.5 {
		t.Errorf("the last day: %d alerts opened, worst %v; want 1 and 7.5 mm/s", m.AlertsOpened, m.WorstVelRMS)
	}
	from, to := testNow.Add(-48*time.Hour).Format(time.RFC3339), testNow.Add(-24*time.Hour).Format(time.RFC3339)
	e.do(t, request{method: "GET", path: "/api/v1/reports/condition?from=" + from + "&to=" + to, token: tok}).wantStatus(t, 200).decode(t, &rep)
	if m := rep.Machines[0]; m.AlertsOpened != 0 || m.WorstVelRMS != nil {
		t.Errorf("the day before yesterday: %d alerts opened, worst %v; want none (the reading and alert are from today)", m.AlertsOpened, m.WorstVelRMS)
	}

	// Bad parameters: a 400 that says what to send.
	for _, q := range []struct{ query, says string }{
		{"days=0", "days must be an integer from 1 to 366"},
		{"days=abc", "days must be an integer"},
		{"days=400", "from 1 to 366"},
		{"days=7&from=" + url.QueryEscape(from), "either days or from"},
		{"from=yesterday", "RFC 3339"},
		{"from=" + url.QueryEscape(to) + "&to=" + url.QueryEscape(from), "before its end"},
		{"from=2020-01-01T00:00:00Z", "at most 366 days"},
		{"format=xml", "json or csv"},
	} {
		res := e.do(t, request{method: "GET", path: "/api/v1/reports/condition?" + q.query, token: tok})
		if d := res.wantError(t, vibemon.EINVALID); !strings.Contains(d.Message, q.says) {
			t.Errorf("?%s: message %q does not say %q", q.query, d.Message, q.says)
		}
	}
	e.do(t, request{method: "GET", path: "/api/v1/reports/condition"}).wantError(t, vibemon.EUNAUTHORIZED)

	// A server without the report builder says so.
	plain := newTestEnv(t)
	c := plain.newTenant(t, "initech")
	plain.do(t, request{method: "GET", path: "/api/v1/reports/condition", token: c.token(vibemon.RoleViewer)}).wantError(t, vibemon.EUNAVAILABLE)
}
