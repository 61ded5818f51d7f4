package report_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/report"
	"github.com/vibemon/vibemon/sqlite"
)

// BenchmarkConditionReport measures a 90-day report of 20 machines with a
// reading every 10 minutes (259,200 readings) on SQLite against its
// baseline in the same run: the 20 health cards alone (what the machine
// pages compute), which the report builds on. docs/benchmarks.md.
func BenchmarkConditionReport(b *testing.B) {
	const machines, days = 20, 90
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "vibemon.db"), sqlite.Options{Now: func() time.Time { return now }, Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	org := &vibemon.Org{Name: "bench"}
	if err := st.CreateOrg(ctx, org); err != nil {
		b.Fatal(err)
	}
	var assets []int64
	for i := range machines {
		a := &vibemon.Asset{OrgID: org.ID, Name: "machine " + string(rune('A'+i)), RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
		if err := st.CreateAsset(ctx, a); err != nil {
			b.Fatal(err)
		}
		d := &vibemon.Device{OrgID: org.ID, AssetID: a.ID, Serial: a.Name}
		if _, err := st.RegisterDevice(ctx, d); err != nil {
			b.Fatal(err)
		}
		assets = append(assets, a.ID)
		var rs []vibemon.Reading
		seq := int64(1)
		for ts := now.AddDate(0, 0, -days); ts.Before(now); ts = ts.Add(10 * time.Minute) {
			v := 1 + 0.3*math.Sin(float64(seq)/50) + 0.01*float64(i)
			r := vibemon.NewReading(d.ID, seq, ts)
			r.Values[vibemon.VelRMSX], r.Values[vibemon.VelRMSY], r.Values[vibemon.VelRMSZ] = v, 0.8*v, 0.5*v
			rs = append(rs, r)
			seq++
		}
		if _, err := st.InsertReadings(ctx, org.ID, rs); err != nil {
			b.Fatal(err)
		}
	}
	clock := func() time.Time { return now }
	svc := &analysis.Service{Store: st, Now: clock}
	builder := &report.Builder{Store: st, Analysis: svc, Now: clock}
	b.Run("health-cards", func(b *testing.B) {
		for b.Loop() {
			for _, id := range assets {
				if _, err := svc.AssetHealth(ctx, org.ID, id); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			r, err := builder.Build(ctx, org.ID, now.AddDate(0, 0, -days), now)
			if err != nil || len(r.Machines) != machines {
				b.Fatal(len(r.Machines), err)
			}
		}
	})
}
