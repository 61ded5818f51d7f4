// Package report builds the fleet condition report: one row per machine
// (asset) with its condition now, its worst hour and daily levels over a
// period, its diagnosis and forecast, the alerts it raised and how much of
// its data arrived. It is the body of GET /api/v1/reports/condition (JSON
// or CSV) and of the panel's Reports page, for the weekly maintenance
// meeting and for the record.
//
// It only reads: assets, devices, hourly velocity rollups, alerts and
// completeness from a vibemon.Store, the health summary from
// analysis.Service. See docs/reports.md.
package report

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
)

// MaxDays is the longest period a report covers.
const MaxDays = 366

// alertScan is how many of a machine's newest alerts are counted; a
// machine with more in the period is marked AlertsTruncated.
const alertScan = 1000

// Conditions, worst first.
const (
	ConditionAct    = "act"     // zone D now, or a critical alert open
	ConditionWatch  = "watch"   // zone C, a warning open, a fault found, anomalous, or the alarm level within ForecastDays
	ConditionGood   = "good"    // readings in the last hour and none of the above
	ConditionNoData = "no_data" // no reading in the last hour, or no sensor
)

// ForecastDays is how near a forecast alarm crossing makes a machine one to
// watch.
const ForecastDays = 30

// Report is the condition of an org's machines over [From, To).
type Report struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`
	// Days are the UTC days of the period, the dates Machine.Daily follows.
	Days     []time.Time `json:"days"`
	Machines []*Machine  `json:"machines"`
}

// Machine is one asset's row.
type Machine struct {
	AssetID int64   `json:"asset_id"`
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	RPM     float64 `json:"rpm"`
	Devices int     `json:"devices"`

	Condition string   `json:"condition"`
	Reasons   []string `json:"reasons"` // why, in words, worst first; empty when good

	// ISO 10816-3 now (the latest hour, as the health card) and the
	// period's worst hourly mean of the highest axis.
	Zone        *string    `json:"zone"`
	VelRMS      *float64   `json:"vel_rms_mm_s"`
	WorstVelRMS *float64   `json:"worst_vel_rms_mm_s"`
	WorstZone   *string    `json:"worst_zone"`
	WorstAt     *time.Time `json:"worst_at"`
	Boundaries  [3]float64 `json:"boundaries_mm_s"`
	Alarm       float64    `json:"alarm_mm_s"`
	// Daily is each day's highest hourly mean velocity (mm/s, highest
	// axis), aligned with Report.Days; nil for a day without readings.
	Daily []*float64 `json:"daily_vel_rms_mm_s"`

	Diagnosis         string     `json:"diagnosis"`          // the latest burst's top finding in words; empty when no fault
	DiagnosisEvidence string     `json:"diagnosis_evidence"` // its spectral evidence, e.g. "BPFO at 58.6 Hz (3.55×) +27.9 dB, …"
	DiagnosisAt       *time.Time `json:"diagnosis_at"`
	Anomaly           string     `json:"anomaly"` // normal, anomalous or learning
	Trend             string     `json:"trend"`
	AlarmAt           *time.Time `json:"forecast_alarm_at"` // when the trend reaches the alarm level

	AlertsOpened    int  `json:"alerts_opened"` // opened in the period
	AlertsCritical  int  `json:"alerts_critical"`
	AlertsWarning   int  `json:"alerts_warning"`
	AlertsInfo      int  `json:"alerts_info"`
	AlertsTruncated bool `json:"alerts_truncated"` // more than alertScan alerts: the counts are lower bounds
	OpenNow         int  `json:"alerts_open_now"`  // unresolved now, whenever opened
	OpenCritical    int  `json:"alerts_open_critical"`

	// Received is the share of the readings the machine's nodes numbered
	// in the period that arrived, percent; nil without any.
	Received *float64 `json:"received_percent"`
}

// Builder builds reports from a store and the analysis service.
type Builder struct {
	Store    vibemon.Store
	Analysis *analysis.Service
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Build returns the report of orgID's machines over [from, to), the
// machines in need of action first.
func (b *Builder) Build(ctx context.Context, orgID int64, from, to time.Time) (*Report, error) {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, vibemon.Errorf(vibemon.EINVALID, "The report's start (%s) must be before its end (%s).", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > MaxDays*24*time.Hour {
		return nil, vibemon.Errorf(vibemon.EINVALID, "A report covers at most %d days; this one asks for %.0f.", MaxDays, to.Sub(from).Hours()/24)
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	r := &Report{From: from, To: to, GeneratedAt: now().UTC(), Machines: []*Machine{}}
	for d := from.Truncate(24 * time.Hour); d.Before(to); d = d.Add(24 * time.Hour) {
		r.Days = append(r.Days, d)
	}
	assets, err := b.Store.ListAssets(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	devices, err := b.Store.ListDevices(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	// Machines are independent reads: a few at a time, as many as there
	// are cores (the stores serve reads concurrently).
	r.Machines = make([]*Machine, len(assets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, a := range assets {
		var mine []*vibemon.Device
		for _, d := range devices {
			if d.AssetID == a.ID {
				mine = append(mine, d)
			}
		}
		g.Go(func() error {
			m, err := b.machine(gctx, orgID, a, mine, r)
			if err != nil {
				return fmt.Errorf("report: %s: %w", a.Name, err)
			}
			r.Machines[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(r.Machines, func(x, y *Machine) int {
		if c := rank(x.Condition) - rank(y.Condition); c != 0 {
			return c
		}
		return -cmpPtr(x.WorstVelRMS, y.WorstVelRMS)
	})
	return r, nil
}

func rank(c string) int {
	return slices.Index([]string{ConditionAct, ConditionWatch, ConditionGood, ConditionNoData}, c)
}

// cmpPtr orders nil before any value.
func cmpPtr(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch {
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}

func (b *Builder) machine(ctx context.Context, orgID int64, a *vibemon.Asset, devices []*vibemon.Device, r *Report) (*Machine, error) {
	m := &Machine{AssetID: a.ID, Name: a.Name, Type: a.Type, RPM: a.RPM, Devices: len(devices), Reasons: []string{}, Daily: make([]*float64, len(r.Days))}
	h, err := b.Analysis.Health(ctx, orgID, a, devices)
	if err != nil {
		return nil, err
	}
	m.Zone, m.VelRMS, m.Boundaries, m.Alarm = h.ISO.Zone, h.ISO.VelRMS, h.ISO.Boundaries, h.ISO.Alarm
	m.Anomaly = h.Anomaly.Status
	if h.Trend != nil {
		m.Trend, m.AlarmAt = h.Trend.Trend, h.Trend.CrossesAlarmAt
	}
	fault := topFinding(h.Diagnosis)
	if fault != nil {
		m.Diagnosis = fmt.Sprintf("Likely %s (confidence %.0f %%)", analysis.FaultWords(fault.Fault), 100*fault.Confidence)
		m.DiagnosisEvidence, m.DiagnosisAt = fault.Summary, &h.Diagnosis.TS
	}
	if err := b.velocity(ctx, orgID, devices, r, m); err != nil {
		return nil, err
	}
	if err := b.alerts(ctx, orgID, a.ID, r, m); err != nil {
		return nil, err
	}
	var expected, received int64
	for _, d := range devices {
		c, err := b.Store.Completeness(ctx, orgID, d.ID, r.From, r.To)
		if err != nil {
			return nil, err
		}
		expected, received = expected+c.Expected, received+c.Received
	}
	if expected > 0 {
		p := 100 * float64(received) / float64(expected)
		m.Received = &p
	}
	m.Condition, m.Reasons = judge(m, fault, r.GeneratedAt)
	return m, nil
}

// velocity fills the worst hour and the daily levels from the hourly
// rollups: per hour the highest axis of each device, then the highest
// device, as ISO 10816-3 evaluates the highest measured direction.
func (b *Builder) velocity(ctx context.Context, orgID int64, devices []*vibemon.Device, r *Report, m *Machine) error {
	hours := map[time.Time]float64{}
	for _, d := range devices {
		pts, err := b.Store.QueryReadings(ctx, orgID, vibemon.ReadingQuery{DeviceID: d.ID, From: r.From, To: r.To, Bucket: vibemon.BucketHour,
			Metrics: []vibemon.Metric{vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ}})
		if err != nil {
			return err
		}
		for _, p := range pts {
			v := analysis.MaxAxis(p.Avg)
			if math.IsNaN(v) {
				continue
			}
			if old, ok := hours[p.TS]; !ok || v > old {
				hours[p.TS] = v
			}
		}
	}
	limits := dsp.ZoneLimits{AB: m.Boundaries[0], BC: m.Boundaries[1], CD: m.Boundaries[2]}
	for ts, v := range hours {
		if m.WorstVelRMS == nil || v > *m.WorstVelRMS || (v == *m.WorstVelRMS && ts.Before(*m.WorstAt)) {
			m.WorstVelRMS, m.WorstAt = &v, &ts // v and ts are this iteration's own
		}
		if i := int(ts.Sub(r.Days[0]) / (24 * time.Hour)); i >= 0 && i < len(m.Daily) && (m.Daily[i] == nil || v > *m.Daily[i]) {
			m.Daily[i] = &v
		}
	}
	if m.WorstVelRMS != nil {
		z := string(limits.Zone(*m.WorstVelRMS))
		m.WorstZone = &z
	}
	return nil
}

// alerts counts the asset's alerts opened in the period and those open now.
func (b *Builder) alerts(ctx context.Context, orgID, assetID int64, r *Report, m *Machine) error {
	as, err := b.Store.ListAlerts(ctx, orgID, vibemon.AlertFilter{AssetID: assetID, Limit: alertScan})
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.Status != vibemon.AlertResolved {
			m.OpenNow++
			if a.Severity == vibemon.SeverityCritical {
				m.OpenCritical++
			}
		}
		if a.OpenedAt.Before(r.From) || !a.OpenedAt.Before(r.To) {
			continue
		}
		m.AlertsOpened++
		switch a.Severity {
		case vibemon.SeverityCritical:
			m.AlertsCritical++
		case vibemon.SeverityWarning:
			m.AlertsWarning++
		default:
			m.AlertsInfo++
		}
	}
	// The newest come first: a full page whose oldest is still in the
	// period may have left older ones of the period out.
	m.AlertsTruncated = len(as) == alertScan && !as[len(as)-1].OpenedAt.Before(r.From)
	return nil
}

// topFinding is the latest diagnosis's most confident fault when it is
// one (detected, confidence at least 0.5), as the health card shows it.
func topFinding(d *analysis.DiagnosisHealth) *analysis.Finding {
	if d == nil {
		return nil
	}
	var top *analysis.Finding
	for i := range d.Findings {
		f := &d.Findings[i]
		if f.Fault == "normal" || !f.Detected || f.Confidence < 0.5 {
			continue
		}
		if top == nil || f.Confidence > top.Confidence {
			top = f
		}
	}
	return top
}

// judge returns the machine's condition and the reasons for it, worst
// first.
func judge(m *Machine, fault *analysis.Finding, now time.Time) (string, []string) {
	act, watch := []string{}, []string{}
	if m.Zone != nil {
		switch *m.Zone {
		case "D":
			act = append(act, fmt.Sprintf("ISO 10816-3 zone D now (%.2f mm/s): vibration may damage the machine", *m.VelRMS))
		case "C":
			watch = append(watch, fmt.Sprintf("ISO 10816-3 zone C now (%.2f mm/s): not for long-term operation", *m.VelRMS))
		}
	}
	if m.OpenCritical > 0 {
		act = append(act, plural(m.OpenCritical, "critical alert")+" open")
	}
	if n := m.OpenNow - m.OpenCritical; n > 0 {
		watch = append(watch, plural(n, "alert")+" open")
	}
	if fault != nil {
		watch = append(watch, m.Diagnosis+" in the latest burst")
	}
	if m.Anomaly == "anomalous" {
		watch = append(watch, "readings unlike the machine's own baseline (anomaly)")
	}
	if m.AlarmAt != nil && m.AlarmAt.Sub(now) < ForecastDays*24*time.Hour {
		days := max(0, m.AlarmAt.Sub(now).Hours()/24)
		watch = append(watch, fmt.Sprintf("the trend reaches the alarm level (%.2f mm/s) in about %.0f days", m.Alarm, days))
	}
	switch {
	case len(act) > 0:
		return ConditionAct, append(act, watch...)
	case len(watch) > 0:
		return ConditionWatch, watch
	case m.Devices == 0:
		return ConditionNoData, []string{"no sensor attached to this machine"}
	case m.Zone == nil:
		return ConditionNoData, []string{"no reading in the last hour"}
	}
	return ConditionGood, []string{}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
