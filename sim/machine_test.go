package sim

import (
	"math"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// The demo backfills an hour of history with the feature-level model and
// then goes on with the node's live readings: at the same simulated time
// both must show the same machine, or every chart has a step at the
// moment the demo started.
func TestBackfilledHistoryRunsOnIntoLiveReadings(t *testing.T) {
	const n = 24
	for i := range 8 {
		m := NewMachine(i, 1)
		var hist, live vibemon.Reading
		for k := range n {
			h := m.Reading(1, int64(k), time.Time{}, 0)
			l := m.LiveReading(1, int64(k), time.Time{}, time.Duration(k)*100*time.Millisecond)
			for _, f := range []vibemon.Metric{vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ, vibemon.AccRMSX, vibemon.AccRMSY, vibemon.AccRMSZ, vibemon.KurtosisZ, vibemon.TempC} {
				hist.Values[f] += h.Values[f] / n
				live.Values[f] += l.Values[f] / n
			}
		}
		for _, f := range []vibemon.Metric{vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ, vibemon.AccRMSX, vibemon.AccRMSY, vibemon.AccRMSZ, vibemon.KurtosisZ} {
			if d := math.Abs(hist.Values[f]/live.Values[f] - 1); d > 0.1 {
				t.Errorf("%s: %s is %.3f in backfilled history and %.3f live (%.0f %% apart, at most 10 %%)", m.Name, f, hist.Values[f], live.Values[f], 100*d)
			}
		}
		if d := math.Abs(hist.Values[vibemon.TempC] - live.Values[vibemon.TempC]); d > 0.25 {
			t.Errorf("%s: temperature %.2f °C in backfilled history and %.2f °C live", m.Name, hist.Values[vibemon.TempC], live.Values[vibemon.TempC])
		}
	}
}
