package anomaly

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// detector is what EWMA and CUSUM have in common.
type detector interface {
	Update(x float64) bool
	Reset()
}

// averageRunLength is the mean number of N(shift, 1) observations until
// the first alarm, over runs starting from a freshly reset chart (the
// zero-state ARL the published tables give).
func averageRunLength(d detector, shift float64, runs int, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	total := 0
	for range runs {
		d.Reset()
		n := 1
		for !d.Update(shift+rng.NormFloat64()) && n < 100_000 {
			n++
		}
		total += n
	}
	return float64(total) / float64(runs)
}

// siegmundARL is Siegmund's approximation of a one-sided CUSUM's ARL for
// shift δ, reference k and interval h (in σ): Montgomery eq. 9.19.
func siegmundARL(delta, k, h float64) float64 {
	d := delta - k
	b := h + 1.166
	if d == 0 {
		return b * b
	}
	return (math.Exp(-2*d*b) + 2*d*b - 1) / (2 * d * d)
}

func TestCUSUMAverageRunLengthMatchesPublishedTables(t *testing.T) {
	// Montgomery, Introduction to Statistical Quality Control, table 9.3
	// (two-sided tabular CUSUM, k = 1/2).
	tests := []struct {
		h, shift, want float64
		runs           int
	}{
		{h: 5, shift: 0, want: 465, runs: 2000},
		{h: 5, shift: 1, want: 10.4, runs: 4000},
		{h: 5, shift: 2, want: 4.01, runs: 4000},
		{h: 4, shift: 0, want: 168, runs: 3000},
		{h: 4, shift: 1, want: 8.38, runs: 4000},
	}
	for _, tt := range tests {
		c, err := NewCUSUM(CUSUMConfig{Mean: 10, SD: 2, H: tt.h})
		if err != nil {
			t.Fatal(err)
		}
		// Work in the chart's units: μ0 = 10, σ = 2.
		got := averageRunLength(scaled{c, 10, 2}, tt.shift, tt.runs, 1)
		t.Logf("CUSUM h=%v shift=%vσ: ARL %.1f (table %.1f)", tt.h, tt.shift, got, tt.want)
		if math.Abs(got-tt.want) > 0.1*tt.want {
			t.Errorf("h=%v shift=%vσ: ARL = %.1f, want %.1f ± 10%%", tt.h, tt.shift, got, tt.want)
		}
		// Siegmund: a two-sided ARL combines the one-sided ones as
		// 1/ARL = 1/ARL⁺ + 1/ARL⁻.
		approx := 1 / (1/siegmundARL(tt.shift, 0.5, tt.h) + 1/siegmundARL(-tt.shift, 0.5, tt.h))
		if math.Abs(got-approx) > 0.1*approx {
			t.Errorf("h=%v shift=%vσ: ARL = %.1f, Siegmund's approximation %.1f", tt.h, tt.shift, got, approx)
		}
	}
}

func TestEWMAAverageRunLengthMatchesPublishedTables(t *testing.T) {
	// Lucas & Saccucci (1990), as in Montgomery table 9.11.
	tests := []struct {
		lambda, l, shift, want float64
		runs                   int
	}{
		{lambda: 0, l: 0, shift: 0, want: 500, runs: 2000}, // defaults: λ = 0.2, L = 2.962
		{lambda: 0, l: 0, shift: 1, want: 10.5, runs: 4000},
		{lambda: 0, l: 0, shift: 2, want: 3.7, runs: 4000},
		{lambda: 0.1, l: 2.814, shift: 0, want: 500, runs: 2000},
		{lambda: 0.1, l: 2.814, shift: 1, want: 10.3, runs: 4000},
		{lambda: 0.05, l: 2.615, shift: 0.5, want: 28.8, runs: 3000},
	}
	for _, tt := range tests {
		e, err := NewEWMA(EWMAConfig{Mean: 10, SD: 2, Lambda: tt.lambda, L: tt.l})
		if err != nil {
			t.Fatal(err)
		}
		got := averageRunLength(scaled{e, 10, 2}, tt.shift, tt.runs, 2)
		t.Logf("EWMA λ=%v L=%v shift=%vσ: ARL %.1f (table %.1f)", tt.lambda, tt.l, tt.shift, got, tt.want)
		if math.Abs(got-tt.want) > 0.1*tt.want {
			t.Errorf("λ=%v L=%v shift=%vσ: ARL = %.1f, want %.1f ± 10%%", tt.lambda, tt.l, tt.shift, got, tt.want)
		}
	}
}

func TestEWMAExactLimitsDetectAShiftPresentAtStartSooner(t *testing.T) {
	steady, _ := NewEWMA(EWMAConfig{SD: 1})
	exact, _ := NewEWMA(EWMAConfig{SD: 1, ExactLimits: true})
	s, x := averageRunLength(steady, 1, 4000, 3), averageRunLength(exact, 1, 4000, 3)
	if x >= s {
		t.Errorf("ARL at 1σ with exact limits = %.2f, want below steady-state %.2f", x, s)
	}
}

// scaled feeds a chart with baseline (mean, sd) standard-normal-unit input.
type scaled struct {
	d        detector
	mean, sd float64
}

func (s scaled) Update(x float64) bool { return s.d.Update(s.mean + s.sd*x) }
func (s scaled) Reset()                { s.d.Reset() }

// TestDetectorsFindAShiftAfterAQuietPeriod is the case users see: a
// machine runs normally, then its level rises by 1σ. Runs with a false
// alarm during the quiet period are set aside.
func TestDetectorsFindAShiftAfterAQuietPeriod(t *testing.T) {
	ewma, _ := NewEWMA(EWMAConfig{Mean: 3, SD: 0.5})
	cusum, _ := NewCUSUM(CUSUMConfig{Mean: 3, SD: 0.5})
	for name, d := range map[string]detector{"EWMA": ewma, "CUSUM": cusum} {
		rng := rand.New(rand.NewPCG(4, 4))
		var delays, runs, early int
		for range 1000 {
			d.Reset()
			alarmed := false
			for range 100 {
				alarmed = d.Update(3+0.5*rng.NormFloat64()) || alarmed
			}
			if alarmed {
				early++
				continue
			}
			n := 1
			for !d.Update(3.5+0.5*rng.NormFloat64()) && n < 10_000 {
				n++
			}
			delays += n
			runs++
		}
		mean := float64(delays) / float64(runs)
		t.Logf("%s: mean delay after a 1σ shift %.1f samples; %d of 1000 false alarms in 100 quiet samples", name, mean, early)
		if mean > 13 {
			t.Errorf("%s: mean delay %.1f samples, want <= 13", name, mean)
		}
		// With ARL0 about 500, P(alarm in 100 samples) ≈ 1 - e^(-0.2) ≈ 0.18.
		if early > 260 {
			t.Errorf("%s: %d of 1000 runs alarmed in 100 quiet samples, want <= 260", name, early)
		}
	}
}

func TestDetectorsIgnoreNonFiniteInput(t *testing.T) {
	e, _ := NewEWMA(EWMAConfig{SD: 1})
	c, _ := NewCUSUM(CUSUMConfig{SD: 1})
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if e.Update(x) || c.Update(x) {
			t.Errorf("Update(%v) alarmed", x)
		}
	}
	if e.Value() != 0 || c.Upper() != 0 || c.Lower() != 0 {
		t.Errorf("state after non-finite input: EWMA %v, CUSUM %v/%v, want 0", e.Value(), c.Upper(), c.Lower())
	}
}

func TestDetectorsRejectBadConfig(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{"EWMA without SD", func() error { _, err := NewEWMA(EWMAConfig{Mean: 1}); return err }},
		{"EWMA NaN mean", func() error { _, err := NewEWMA(EWMAConfig{Mean: math.NaN(), SD: 1}); return err }},
		{"EWMA lambda > 1", func() error { _, err := NewEWMA(EWMAConfig{SD: 1, Lambda: 1.5}); return err }},
		{"EWMA negative L", func() error { _, err := NewEWMA(EWMAConfig{SD: 1, L: -3}); return err }},
		{"CUSUM negative SD", func() error { _, err := NewCUSUM(CUSUMConfig{SD: -1}); return err }},
		{"CUSUM negative K", func() error { _, err := NewCUSUM(CUSUMConfig{SD: 1, K: -0.5}); return err }},
		{"CUSUM NaN H", func() error { _, err := NewCUSUM(CUSUMConfig{SD: 1, H: math.NaN()}); return err }},
	}
	for _, tt := range tests {
		if err := tt.err(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want one wrapping ErrInvalid", tt.name, err)
		}
	}
}
