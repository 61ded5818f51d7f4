package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

const (
	benchDevices = 100
	benchBatch   = 1000
)

// benchReadings returns batch i of the ingest benchmark: 1,000 readings of
// one of 100 devices, every metric set, one second apart.
func benchReadings(devices []int64, i int) []vibemon.Reading {
	return benchReadingsN(devices, i, benchBatch)
}

// benchReadingsN is benchReadings with batches of size readings.
func benchReadingsN(devices []int64, i, size int) []vibemon.Reading {
	dev := devices[i%len(devices)]
	seq0 := int64(i/len(devices)) * int64(size)
	start := t0.Add(time.Duration(seq0) * time.Second)
	rs := make([]vibemon.Reading, size)
	for j := range rs {
		r := vibemon.Reading{DeviceID: dev, Seq: seq0 + int64(j), TS: start.Add(time.Duration(j) * time.Second)}
		for m := range r.Values {
			r.Values[m] = float64((j*31+m*7)%1000) / 100
		}
		rs[j] = r
	}
	return rs
}

func benchFleet(b *testing.B, s *Store) (int64, []int64) {
	b.Helper()
	o := &vibemon.Org{Name: "bench"}
	if err := s.CreateOrg(context.Background(), o); err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, benchDevices)
	for i := range ids {
		d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprintf("node-%03d", i)}
		if _, err := s.RegisterDevice(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		ids[i] = d.ID
	}
	return o.ID, ids
}

// runCallers runs b.N batches spread over callers goroutines and reports
// readings/s.
func runCallers(b *testing.B, callers int, insert func(i int) error) {
	runCallersN(b, callers, benchBatch, insert)
}

func runCallersN(b *testing.B, callers, size int, insert func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := insert(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N*size)/el.Seconds(), "readings/s")
}

// BenchmarkInsertReadings measures ingest through the store (raw rows plus
// three rollups plus device state, one coalesced transaction per batch)
// against a baseline: the same rows inserted into a table of the same
// columns with no rollups, one transaction per batch.
func BenchmarkInsertReadings(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, callers := range []int{1, 4} {
			b.Run(fmt.Sprintf("store/sync=%s/callers=%d", sync, callers), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: sync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				org, devs := benchFleet(b, s)
				runCallers(b, callers, func(i int) error {
					_, err := s.InsertReadings(context.Background(), org, benchReadings(devs, i))
					return err
				})
			})
		}
		// Many gateways posting small batches: here coalescing and the
		// cost of a durable commit show.
		b.Run(fmt.Sprintf("store-small-batches-of-10/sync=%s/callers=16", sync), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			org, devs := benchFleet(b, s)
			runCallersN(b, 16, 10, func(i int) error {
				_, err := s.InsertReadings(context.Background(), org, benchReadingsN(devs, i, 10))
				return err
			})
			st := s.IngestStats()
			b.ReportMetric(float64(st.Calls)/float64(max(1, st.Transactions)), "calls/tx")
		})
		b.Run(fmt.Sprintf("baseline-no-rollups/sync=%s", sync), func(b *testing.B) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "plain.db")+
				"?_journal_mode=WAL&_synchronous="+sync+"&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			cols := metricCols()
			if _, err := db.Exec("CREATE TABLE plain (device_id INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, " +
				strings.Join(cols, " REAL, ") + " REAL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID"); err != nil {
				b.Fatal(err)
			}
			// The same multi-row INSERT the store uses, without RETURNING,
			// rollups or device state.
			multi := strings.Replace(insertReadingsReturningSQL(multiRows), "readings", "plain", 1)
			multi = multi[:strings.Index(multi, " RETURNING")]
			ins, err := db.Prepare(multi)
			if err != nil {
				b.Fatal(err)
			}
			one, err := db.Prepare(strings.Replace(insertReadingSQL(), "readings", "plain", 1))
			if err != nil {
				b.Fatal(err)
			}
			devs := make([]int64, benchDevices)
			for i := range devs {
				devs[i] = int64(i + 1)
			}
			args := make([]any, 0, multiRows*(3+vibemon.NumMetrics))
			runCallers(b, 1, func(i int) error {
				tx, err := db.Begin()
				if err != nil {
					return err
				}
				defer tx.Rollback()
				st := tx.Stmt(ins)
				rs := benchReadings(devs, i)
				for len(rs) >= multiRows {
					args = args[:0]
					for j := range rs[:multiRows] {
						args = readingArgs(args, &rs[j])
					}
					if _, err := st.Exec(args...); err != nil {
						return err
					}
					rs = rs[multiRows:]
				}
				tail := tx.Stmt(one)
				for j := range rs {
					if _, err := tail.Exec(readingArgs(args[:0], &rs[j])...); err != nil {
						return err
					}
				}
				return tx.Commit()
			})
		})
	}
}

// fixtureVersion changes when hourlyFixture builds different data.
const fixtureVersion = 2

// hourlyFixture returns the path of a store holding 100 devices x 30 days of
// 1-minute readings (4.32M rows), building it on first use. The file lives
// in os.TempDir(), keyed by schema version, and is reused across runs.
func hourlyFixture(b *testing.B) (path string, org int64, devices []int64) {
	b.Helper()
	path = filepath.Join(os.TempDir(), fmt.Sprintf("vibemon-bench-hourly30d-schema%d-fixture%d.db", LatestSchemaVersion(), fixtureVersion))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		began := time.Now()
		s, err := Open(tmp, Options{Synchronous: "NORMAL"})
		if err != nil {
			b.Fatal(err)
		}
		org, devs := benchFleet(b, s)
		const perDevice = 30 * 24 * 60
		const perCall = 24 * 60 // one device-day per InsertReadings call
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= benchDevices*perDevice/perCall {
						return
					}
					dev := devs[i%benchDevices]
					seq0 := int64(i/benchDevices) * perCall
					rs := make([]vibemon.Reading, perCall)
					for j := range rs {
						seq := seq0 + int64(j)
						r := vibemon.Reading{DeviceID: dev, Seq: seq, TS: t0.Add(time.Duration(seq) * time.Minute)}
						for m := range r.Values {
							r.Values[m] = float64((int(seq)*31+m*7)%1000) / 100
						}
						rs[j] = r
					}
					if _, err := s.InsertReadings(context.Background(), org, rs); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %s (%d readings) in %v", path, benchDevices*perDevice, time.Since(began).Round(time.Second))
	}
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	devs, err := s.ListDevices(context.Background(), 1)
	if err != nil || len(devs) != benchDevices {
		b.Fatalf("fixture %s is incomplete (%d devices, %v); delete it", path, len(devs), err)
	}
	for _, d := range devs {
		devices = append(devices, d.ID)
	}
	return path, 1, devices
}

// BenchmarkQueryHourly30d queries one device's 30 days at 1h buckets (720
// points from rollup_1h) in a store of 4.32M readings; and, for the raw
// path, one hour of raw readings in the middle of the 30 days; and the
// completeness of one day.
func BenchmarkQueryHourly30d(b *testing.B) {
	path, org, devs := hourlyFixture(b)
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cases := []struct {
		name string
		q    vibemon.ReadingQuery
		want int
	}{
		{"1h-buckets-30d", vibemon.ReadingQuery{DeviceID: devs[42], From: t0, To: t0.Add(30 * 24 * time.Hour), Bucket: vibemon.BucketHour}, 720},
		{"1h-buckets-30d-1metric", vibemon.ReadingQuery{DeviceID: devs[42], From: t0, To: t0.Add(30 * 24 * time.Hour), Bucket: vibemon.BucketHour, Metrics: []vibemon.Metric{vibemon.VelRMSX}}, 720},
		{"1d-buckets-30d", vibemon.ReadingQuery{DeviceID: devs[42], From: t0, To: t0.Add(30 * 24 * time.Hour), Bucket: vibemon.BucketDay}, 30},
		{"raw-1h", vibemon.ReadingQuery{DeviceID: devs[42], From: t0.Add(15 * 24 * time.Hour), To: t0.Add(15*24*time.Hour + time.Hour), Bucket: vibemon.BucketRaw}, 60},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				pts, err := s.QueryReadings(ctx, org, tc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(pts) != tc.want {
					b.Fatalf("%d points, want %d", len(pts), tc.want)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
	// The device page's "received, last 24 h": a day of the 30, judged
	// from sequence numbers.
	b.Run("completeness-1d", func(b *testing.B) {
		for b.Loop() {
			c, err := s.Completeness(ctx, org, devs[42], t0.Add(15*24*time.Hour), t0.Add(16*24*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			if c.Received != 1440 || c.Expected != 1440 {
				b.Fatalf("received %d of %d, want 1440 of 1440", c.Received, c.Expected)
			}
		}
	})
}
