package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// BenchmarkMergeRollups: the merge of the deltas that ingest leaves at
// 20,000 readings/s in POSTs of 100 (bench latency's workload): 200
// devices, each ingest call one reading of every device, so every reading
// is a delta row of its own. One op merges 20,000 such rows (100 s of 200
// devices, spanning 2-3 minutes) into rollup_1m, rollup_1h and rollup_1d;
// the ingest before it is not timed.
//
//	go test ./postgres -run '^$' -bench MergeRollups -benchtime 20x
func BenchmarkMergeRollups(b *testing.B) {
	const devices, calls = 200, 100
	s, org, ids := benchStore(b, devices, -1, 1)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for c := 0; c < calls; c++ {
			rs := make([]vibemon.Reading, 0, devices)
			for _, id := range ids {
				r := vibemon.NewReading(id, seq, base.Add(time.Duration(seq)*time.Second))
				for m := range r.Values {
					r.Values[m] = float64(seq%97) + float64(m)
				}
				rs = append(rs, r)
			}
			seq++
			if _, err := s.InsertReadings(ctx, org, rs); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := s.MergeRollups(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n != devices*calls {
			b.Fatalf("merged %d deltas, want %d", n, devices*calls)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*devices*calls), "µs/delta")
}
