package anomaly

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSelectKAndMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 3, 10, 101, 1000} {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(rng.IntN(n/2 + 1)) // many ties
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		for _, k := range []int{0, n / 3, n / 2, n - 1} {
			if got := selectK(slices.Clone(a), k); got != sorted[k] {
				t.Errorf("n=%d: selectK(%d) = %v, want %v", n, k, got, sorted[k])
			}
		}
		want := sorted[n/2]
		if n%2 == 0 {
			want = (sorted[n/2-1] + sorted[n/2]) / 2
		}
		if got := median(slices.Clone(a)); got != want {
			t.Errorf("n=%d: median = %v, want %v", n, got, want)
		}
	}
}

func TestTheilSenExactOnALine(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5}
	y := []float64{1, 3, 5, 7, 9, 11}
	l, err := TheilSen(x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Slope != 2 || l.Intercept != 1 || l.SlopeLow != 2 || l.SlopeHigh != 2 {
		t.Errorf("TheilSen on y = 1 + 2x = %+v, want slope 2 intercept 1 and a zero-width interval", l)
	}
}

func TestMannKendallKnownValues(t *testing.T) {
	// n = 10 strictly increasing: S = 45, Var S = 10·9·25/18 = 125,
	// Z = 44/sqrt(125) = 3.9355, P = 8.3e-5.
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	mk, err := MannKendall(x, x)
	if err != nil {
		t.Fatal(err)
	}
	if mk.S != 45 || mk.Var != 125 || math.Abs(mk.Z-3.93548) > 1e-4 || math.Abs(mk.P-8.30e-5) > 0.05e-5 {
		t.Errorf("MannKendall on 0..9 = %+v, want S 45, Var 125, Z 3.9355, P 8.30e-5", mk)
	}
	// Ties in y reduce the variance: y = 1,1,2,2,3 -> two pairs of ties.
	mk, _ = MannKendall([]float64{1, 2, 3, 4, 5}, []float64{1, 1, 2, 2, 3})
	if want := (5.0*4*15 - 2*(2*1*9)) / 18; mk.S != 8 || mk.Var != want {
		t.Errorf("MannKendall with ties: S %v Var %v, want 8 and %v", mk.S, mk.Var, want)
	}
}

// series returns n hourly points of y = a + b·hours + noise·N(0,1) from
// start.
func series(rng *rand.Rand, start time.Time, n int, a, bPerHour, noise float64) ([]time.Time, []float64) {
	times := make([]time.Time, n)
	values := make([]float64, n)
	for i := range n {
		times[i] = start.Add(time.Duration(i) * time.Hour)
		values[i] = a + bPerHour*float64(i) + noise*rng.NormFloat64()
	}
	return times, values
}

var start = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func TestForecastRecoversKnownTrend(t *testing.T) {
	// Velocity RMS 2.0 mm/s rising 0.01 mm/s per hour with 0.1 noise, 200
	// hourly points; the alarm limit 4.5 is reached at hour 250.
	const seeds = 200
	trueSlope := 0.01 / 3600
	trueCross := start.Add(250 * time.Hour)
	var rising, slopeCovered, crossCovered int
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 3))
		times, values := series(rng, start, 200, 2.0, 0.01, 0.1)
		p, err := Forecast(times, values, 4.5)
		if err != nil {
			t.Fatal(err)
		}
		if p.Trend != TrendRising {
			continue
		}
		rising++
		if p.SlopeLow <= trueSlope && trueSlope <= p.SlopeHigh {
			slopeCovered++
		}
		if !p.Earliest.After(trueCross) && (p.Latest.IsZero() || !p.Latest.Before(trueCross)) {
			crossCovered++
		}
		if seed == 0 {
			t.Logf("seed 0: %+v", p)
		}
		if p.Earliest.After(p.CrossesAt) || (!p.Latest.IsZero() && p.Latest.Before(p.CrossesAt)) {
			t.Errorf("seed %d: CrossesAt %v outside [%v, %v]", seed, p.CrossesAt, p.Earliest, p.Latest)
		}
	}
	t.Logf("rising %d/%d, slope in CI %d, true crossing in interval %d", rising, seeds, slopeCovered, crossCovered)
	if rising != seeds {
		t.Errorf("Trend rising in %d of %d seeds, want all", rising, seeds)
	}
	if frac := float64(slopeCovered) / seeds; frac < 0.9 {
		t.Errorf("true slope inside the 95%% interval in %.2f of seeds, want >= 0.90", frac)
	}
	if frac := float64(crossCovered) / seeds; frac < 0.9 {
		t.Errorf("true crossing inside [Earliest, Latest] in %.2f of seeds, want >= 0.90", frac)
	}
}

func TestForecastFallingTowardALowerLimit(t *testing.T) {
	// Battery voltage falling 0.002 V/h toward 3.3 V.
	rng := rand.New(rand.NewPCG(2, 2))
	times, values := series(rng, start, 300, 3.9, -0.002, 0.01)
	p, err := Forecast(times, values, 3.3)
	if err != nil {
		t.Fatal(err)
	}
	want := start.Add(300 * time.Hour)
	if p.Trend != TrendFalling || p.CrossesAt.Sub(want).Abs() > 10*time.Hour {
		t.Errorf("Forecast = %s crossing %v, want falling crossing near %v", p.Trend, p.CrossesAt, want)
	}
}

func TestForecastOnPureNoiseFindsNoTrend(t *testing.T) {
	const seeds = 400
	var none, significant int
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 4))
		times, values := series(rng, start, 100, 2.0, 0, 0.2)
		p, err := Forecast(times, values, 4.5)
		if err != nil {
			t.Fatal(err)
		}
		if p.Trend == TrendNone {
			none++
		}
		if p.P <= 0.05 {
			significant++
		}
	}
	// The test has size 5%: about 5% of noise series look significant,
	// half of those rising toward the upper limit.
	t.Logf("pure noise: Trend none in %d/%d, p <= 0.05 in %d/%d", none, seeds, significant, seeds)
	if frac := float64(significant) / seeds; frac < 0.02 || frac > 0.09 {
		t.Errorf("p <= 0.05 in %.3f of noise series, want about 0.05", frac)
	}
	if frac := float64(none) / seeds; frac < 0.93 {
		t.Errorf("Trend none in %.3f of noise series, want >= 0.93", frac)
	}
}

func TestForecastNoneWhenTrendHeadsAway(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	times, values := series(rng, start, 100, 2.0, -0.01, 0.05)
	p, err := Forecast(times, values, 4.5) // falling, limit above
	if err != nil {
		t.Fatal(err)
	}
	if p.Trend != TrendNone || !p.CrossesAt.IsZero() || p.P > 0.05 {
		t.Errorf("falling series with an upper limit: Trend %s CrossesAt %v P %v, want none, zero, significant", p.Trend, p.CrossesAt, p.P)
	}
}

func TestTheilSenIsRobustToOutliersWhereOLSIsNot(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	n := 100
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x[i] = float64(i)
		y[i] = 1 + 0.5*x[i] + 0.5*rng.NormFloat64()
		if i%10 == 9 && i > 50 { // sensor glitches late in the series
			y[i] += 100
		}
	}
	l, err := TheilSen(x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	ols := olsSlope(x, y)
	t.Logf("with 5%% outliers: Theil-Sen slope %.3f [%.3f, %.3f], OLS slope %.3f, true 0.5", l.Slope, l.SlopeLow, l.SlopeHigh, ols)
	if math.Abs(l.Slope-0.5) > 0.03 || l.SlopeLow > 0.5 || l.SlopeHigh < 0.5 {
		t.Errorf("Theil-Sen slope %.3f [%.3f, %.3f], want 0.5 ± 0.03 inside the interval", l.Slope, l.SlopeLow, l.SlopeHigh)
	}
	if math.Abs(ols-0.5) < 0.1 {
		t.Errorf("OLS slope %.3f close to 0.5: the outliers are not a test", ols)
	}
}

func olsSlope(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(y))
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	return sxy / sxx
}

func TestTheilSenSampledAboveTheExactLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n := 3000
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x[i] = float64(i)
		y[i] = 3 - 0.01*x[i] + rng.NormFloat64()
	}
	l, err := TheilSen(x, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.SlopeLow > -0.01 || l.SlopeHigh < -0.01 || l.SlopeHigh-l.SlopeLow > 0.002 {
		t.Errorf("n=3000: slope %.5f [%.5f, %.5f], want an interval around -0.01 narrower than 0.002", l.Slope, l.SlopeLow, l.SlopeHigh)
	}
}

func TestTrendRejectsBadInput(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		err  func() error
	}{
		{"TheilSen length mismatch", func() error { _, err := TheilSen([]float64{1, 2}, []float64{1}, 0); return err }},
		{"TheilSen equal x", func() error { _, err := TheilSen([]float64{1, 1, 1}, []float64{1, 2, 3}, 0); return err }},
		{"TheilSen NaN", func() error { _, err := TheilSen([]float64{1, 2}, []float64{1, math.NaN()}, 0); return err }},
		{"TheilSen confidence 1", func() error { _, err := TheilSen([]float64{1, 2}, []float64{1, 2}, 1); return err }},
		{"MannKendall two points", func() error { _, err := MannKendall([]float64{1, 2}, []float64{1, 2}); return err }},
		{"Forecast no points", func() error { _, err := Forecast(nil, nil, 1); return err }},
		{"Forecast NaN limit", func() error {
			_, err := Forecast([]time.Time{now, now.Add(time.Hour), now.Add(2 * time.Hour)}, []float64{1, 2, 3}, math.NaN())
			return err
		}},
		{"Forecast same times", func() error {
			_, err := Forecast([]time.Time{now, now, now}, []float64{1, 2, 3}, 5)
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.err(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want one wrapping ErrInvalid", tt.name, err)
		}
	}
}
