package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/report"
	"github.com/vibemon/vibemon/sim"
	"github.com/vibemon/vibemon/sqlite"
)

var now = time.Date(2025, 6, 11, 12, 30, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type fleet struct {
	st       vibemon.Store
	org      *vibemon.Org
	builder  *report.Builder
	rule     *vibemon.Rule
	critical *vibemon.Rule
}

// stores are the stores a report is built from: SQLite always, and
// PostgreSQL in a fresh schema when VIBEMON_TEST_DATABASE_URL is set (it
// skips without it, and fails under VIBEMON_TEST_STRICT=1).
var stores = map[string]func(t *testing.T) vibemon.Store{
	"sqlite": func(t *testing.T) vibemon.Store {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "vibemon.db"), sqlite.Options{Now: func() time.Time { return now }, Synchronous: "NORMAL"})
		must(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	},
	"postgres": func(t *testing.T) vibemon.Store {
		url := pgtest.URL(t)
		st, err := postgres.Open(context.Background(), url, postgres.Options{Schema: pgtest.Schema(t, url), MaxConns: 4, MaintenanceInterval: -1, MergeInterval: -1, Now: func() time.Time { return now }})
		must(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	},
}

func newFleet(t *testing.T, kind string) *fleet {
	t.Helper()
	st := stores[kind](t)
	ctx := context.Background()
	f := &fleet{st: st, org: &vibemon.Org{Name: "acme"}}
	must(t, st.CreateOrg(ctx, f.org))
	clock := func() time.Time { return now }
	f.builder = &report.Builder{Store: st, Analysis: &analysis.Service{Store: st, Now: clock}, Now: clock}
	f.rule = &vibemon.Rule{OrgID: f.org.ID, Name: "vibration", Kind: vibemon.RuleThreshold, Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 2.8, Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, st.CreateRule(ctx, f.rule))
	f.critical = &vibemon.Rule{OrgID: f.org.ID, Name: "vibration D", Kind: vibemon.RuleThreshold, Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 4.5, Severity: vibemon.SeverityCritical, Enabled: true}
	must(t, st.CreateRule(ctx, f.critical))
	return f
}

// machine adds an asset of org with one node and readings every 10
// minutes over the last days days, velocity vel(ts) on the highest axis;
// skip leaves a reading's sequence number unused (lost on the way).
func (f *fleet) machine(t *testing.T, org *vibemon.Org, name string, days int, vel func(ts time.Time) float64, skip func(seq int64) bool) (*vibemon.Asset, *vibemon.Device) {
	t.Helper()
	ctx := context.Background()
	a := &vibemon.Asset{OrgID: org.ID, Name: name, Type: "fan", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid, Bearing: "6205"}
	must(t, f.st.CreateAsset(ctx, a))
	d := &vibemon.Device{OrgID: org.ID, AssetID: a.ID, Serial: name + "-node"}
	_, err := f.st.RegisterDevice(ctx, d)
	must(t, err)
	var rs []vibemon.Reading
	seq := int64(1)
	for ts := now.Add(-time.Duration(days) * 24 * time.Hour); !ts.After(now); ts = ts.Add(10 * time.Minute) {
		if skip == nil || !skip(seq) {
			v := vel(ts)
			r := vibemon.NewReading(d.ID, seq, ts)
			r.Values[vibemon.VelRMSX], r.Values[vibemon.VelRMSY], r.Values[vibemon.VelRMSZ] = v, 0.8*v, 0.5*v
			r.Values[vibemon.TempC] = 45
			rs = append(rs, r)
		}
		seq++
	}
	if len(rs) > 0 {
		_, err = f.st.InsertReadings(ctx, org.ID, rs)
		must(t, err)
	}
	return a, d
}

func (f *fleet) alert(t *testing.T, rule *vibemon.Rule, a *vibemon.Asset, d *vibemon.Device, opened time.Time, resolve bool) {
	t.Helper()
	ctx := context.Background()
	al := &vibemon.Alert{OrgID: f.org.ID, RuleID: rule.ID, DeviceID: d.ID, AssetID: a.ID, Severity: rule.Severity, Status: vibemon.AlertOpen,
		Metric: "vel_rms_x", Value: 5, Peak: 5, Threshold: rule.Threshold, Message: "test", OpenedAt: opened, UpdatedAt: opened}
	_, err := f.st.UpsertAlert(ctx, al)
	must(t, err)
	if resolve {
		_, err := f.st.ResolveAlert(ctx, f.org.ID, al.ID, 0, opened.Add(time.Hour))
		must(t, err)
	}
}

// A plant's week in one table: the fan whose vibration climbed into zone
// D and paged somebody is first, with the hour it was worst; the healthy
// pump counts only the alert it raised in the period; the motor whose node
// is silent says so; another org's machine is not in it.
func TestConditionReport(t *testing.T) {
	for kind := range stores {
		t.Run(kind, func(t *testing.T) { testConditionReport(t, kind) })
	}
}

func testConditionReport(t *testing.T, kind string) {
	f := newFleet(t, kind)
	ctx := context.Background()
	// The fan: 1.2 mm/s, from two days ago rising to 5.2 mm/s now; one
	// reading in ten lost.
	rise := now.Add(-48 * time.Hour)
	fan, fanNode := f.machine(t, f.org, "Fan A", 10, func(ts time.Time) float64 {
		if ts.Before(rise) {
			return 1.2
		}
		return 1.2 + 4*ts.Sub(rise).Hours()/48
	}, func(seq int64) bool { return seq%10 == 0 })
	f.alert(t, f.rule, fan, fanNode, now.Add(-20*time.Hour), false)
	f.alert(t, f.critical, fan, fanNode, now.Add(-2*time.Hour), false)
	// The pump: a steady 1.0 mm/s; a warning three days ago, resolved, and
	// one 40 days ago (before the period).
	pump, pumpNode := f.machine(t, f.org, "=Pump B", 10, func(time.Time) float64 { return 1.0 }, nil)
	f.alert(t, f.rule, pump, pumpNode, now.Add(-40*24*time.Hour), true)
	f.alert(t, f.rule, pump, pumpNode, now.Add(-3*24*time.Hour), true)
	// The gearbox: steady, but its latest burst shows an outer race defect.
	gear, gearNode := f.machine(t, f.org, "Gearbox D", 10, func(time.Time) float64 { return 1.1 }, nil)
	f.burst(t, gear, gearNode, dsp.FaultOuterRace)
	// The motor: a node that never sent.
	f.machine(t, f.org, "Motor C", 0, nil, func(int64) bool { return true })
	// A spare pump without a sensor yet.
	must(t, f.st.CreateAsset(ctx, &vibemon.Asset{OrgID: f.org.ID, Name: "Spare pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid}))
	// Another org's machine in zone D.
	other := &vibemon.Org{Name: "rival"}
	must(t, f.st.CreateOrg(ctx, other))
	f.machine(t, other, "Their fan", 10, func(time.Time) float64 { return 9 }, nil)

	r, err := f.builder.Build(ctx, f.org.ID, now.AddDate(0, 0, -7), now)
	must(t, err)

	if len(r.Days) != 8 || !r.Days[0].Equal(time.Date(2025, 6, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("days = %d from %v, want the 8 UTC days from 2025-06-04 the period touches", len(r.Days), r.Days)
	}
	var names []string
	for _, m := range r.Machines {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "Fan A,Gearbox D,=Pump B,Motor C,Spare pump" {
		t.Fatalf("machines = %v, want the fan (act), the gearbox (watch), the pump (good), the motor and the spare pump (no data); not the other org's", names)
	}
	if spare := r.Machines[4]; spare.Condition != report.ConditionNoData || len(spare.Reasons) != 1 || spare.Reasons[0] != "no sensor attached to this machine" {
		t.Errorf("spare pump: %s because %q, want no data: no sensor", spare.Condition, spare.Reasons)
	}
	fanRow, gearRow, pumpRow, motorRow := r.Machines[0], r.Machines[1], r.Machines[2], r.Machines[3]

	if fanRow.Condition != report.ConditionAct || len(fanRow.Reasons) == 0 || !strings.Contains(fanRow.Reasons[0], "zone D now") {
		t.Errorf("fan: %s because %q, want act, zone D first", fanRow.Condition, fanRow.Reasons)
	}
	if !strings.Contains(strings.Join(fanRow.Reasons, ";"), "1 critical alert open") || !strings.Contains(strings.Join(fanRow.Reasons, ";"), "1 alert open") {
		t.Errorf("fan reasons %q do not name the open critical and warning alerts", fanRow.Reasons)
	}
	// The worst hour is the current one (12:00-12:30): its mean is about
	// 1.2 + 4*(47.75/48) = 5.18 mm/s.
	if fanRow.WorstVelRMS == nil || math.Abs(*fanRow.WorstVelRMS-5.18) > 0.03 || deref(fanRow.WorstZone) != "D" || fanRow.WorstAt == nil || !fanRow.WorstAt.Equal(time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("fan worst = %v mm/s zone %q at %v, want about 5.18 in zone D at 12:00 today", num(fanRow.WorstVelRMS), deref(fanRow.WorstZone), fanRow.WorstAt)
	}
	if d := fanRow.Daily; d[0] == nil || math.Abs(*d[0]-1.2) > 0.01 || d[len(d)-1] == nil || *d[len(d)-1] < 5 {
		t.Errorf("fan daily = %v ... %v, want 1.2 on the first day and above 5 today", num(d[0]), num(d[len(d)-1]))
	}
	if fanRow.AlertsOpened != 2 || fanRow.AlertsCritical != 1 || fanRow.AlertsWarning != 1 || fanRow.OpenNow != 2 {
		t.Errorf("fan alerts: opened %d (critical %d, warning %d), open %d, want 2 (1, 1), 2", fanRow.AlertsOpened, fanRow.AlertsCritical, fanRow.AlertsWarning, fanRow.OpenNow)
	}
	if fanRow.Received == nil || math.Abs(*fanRow.Received-90) > 1 {
		t.Errorf("fan received = %v %%, want about 90 (one reading in ten lost)", num(fanRow.Received))
	}

	if gearRow.Condition != report.ConditionWatch || len(gearRow.Reasons) != 1 || !strings.HasPrefix(gearRow.Reasons[0], "Likely an outer race bearing defect") ||
		!strings.HasPrefix(gearRow.Diagnosis, "Likely an outer race bearing defect") || !strings.Contains(gearRow.DiagnosisEvidence, "BPFO") {
		t.Errorf("gearbox: %s because %q, diagnosis %q (%q), want watch for the outer race defect with its BPFO evidence", gearRow.Condition, gearRow.Reasons, gearRow.Diagnosis, gearRow.DiagnosisEvidence)
	}
	if pumpRow.Condition != report.ConditionGood || len(pumpRow.Reasons) != 0 {
		t.Errorf("pump: %s because %q, want good", pumpRow.Condition, pumpRow.Reasons)
	}
	if deref(pumpRow.Zone) != "A" || deref(pumpRow.WorstZone) != "A" {
		t.Errorf("pump zones now %q, worst %q, want A and A", deref(pumpRow.Zone), deref(pumpRow.WorstZone))
	}
	if pumpRow.AlertsOpened != 1 || pumpRow.OpenNow != 0 {
		t.Errorf("pump alerts: opened %d, open %d, want 1 (the one 40 days ago is before the period) and 0", pumpRow.AlertsOpened, pumpRow.OpenNow)
	}
	if pumpRow.Received == nil || *pumpRow.Received != 100 {
		t.Errorf("pump received = %v %%, want 100", num(pumpRow.Received))
	}

	if motorRow.Condition != report.ConditionNoData || motorRow.Reasons[0] != "no reading in the last hour" || motorRow.WorstVelRMS != nil || motorRow.Received != nil {
		t.Errorf("motor: %s, worst %v, received %v, want no data and no values", motorRow.Condition, num(motorRow.WorstVelRMS), num(motorRow.Received))
	}

	// The CSV: a header and the same rows in the same order; a name that
	// a spreadsheet would run as a formula is quoted.
	var buf bytes.Buffer
	must(t, r.WriteCSV(&buf))
	rows, err := csv.NewReader(&buf).ReadAll()
	must(t, err)
	if len(rows) != 6 || rows[0][0] != "machine" || rows[1][0] != "Fan A" || rows[3][0] != "'=Pump B" || rows[4][0] != "Motor C" {
		t.Fatalf("csv rows = %q", rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if got := rows[1][col["worst_zone"]]; got != "D" {
		t.Errorf("csv worst_zone of the fan = %q, want D", got)
	}
	if got := rows[1][col["worst_at"]]; got != "2025-06-11T12:00:00Z" {
		t.Errorf("csv worst_at of the fan = %q", got)
	}
	if got := rows[3][col["alerts_opened"]]; got != "1" {
		t.Errorf("csv alerts_opened of the pump = %q, want 1", got)
	}
	if got := rows[4][col["received_percent"]]; got != "" {
		t.Errorf("csv received_percent of the silent motor = %q, want empty", got)
	}
}

// burst analyses a second of a piezo sensor on a's 1480 rpm machine with
// a 6205 bearing and fault, as the node's latest burst.
func (f *fleet) burst(t *testing.T, a *vibemon.Asset, d *vibemon.Device, fault string) {
	t.Helper()
	x, rate := sim.PiezoSecond(a.RPM, fault, sim.SeverityHigh, 7)
	data, scale := analysis.Quantize(x[:])
	w := &vibemon.Waveform{OrgID: f.org.ID, DeviceID: d.ID, TS: now.Add(-time.Hour), SampleRateHz: rate, Axes: 3, Samples: len(x[0]), Scale: scale, Data: data}
	ctx := context.Background()
	must(t, f.st.CreateWaveform(ctx, w))
	_, err := f.builder.Analysis.AnalyzeWaveform(ctx, f.org.ID, w.ID)
	must(t, err)
}

func TestConditionReportPeriod(t *testing.T) {
	f := newFleet(t, "sqlite")
	ctx := context.Background()
	if _, err := f.builder.Build(ctx, f.org.ID, now, now.Add(-time.Hour)); vibemon.ErrorCode(err) != vibemon.EINVALID || !strings.Contains(err.Error(), "before its end") {
		t.Errorf("reversed period: %v, want EINVALID naming the order", err)
	}
	if _, err := f.builder.Build(ctx, f.org.ID, now.AddDate(-2, 0, 0), now); vibemon.ErrorCode(err) != vibemon.EINVALID {
		t.Errorf("two years: %v, want EINVALID", err)
	}
	r, err := f.builder.Build(ctx, f.org.ID, now.Add(-time.Hour), now)
	must(t, err)
	if len(r.Machines) != 0 || r.Machines == nil {
		t.Errorf("an org without machines: %v, want an empty list", r.Machines)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func num(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
