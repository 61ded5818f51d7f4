package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Line is a robust straight-line fit y = Intercept + Slope·x with a
// confidence interval for the slope.
type Line struct {
	Slope     float64
	Intercept float64
	// SlopeLow and SlopeHigh bound Slope at the requested confidence
	// (Sen 1968: order statistics of the pairwise slopes chosen with the
	// Mann–Kendall variance).
	SlopeLow, SlopeHigh float64
}

// At returns the line's value at x.
func (l Line) At(x float64) float64 { return l.Intercept + l.Slope*x }

// exactPairsLimit is the largest n for which TheilSen uses all n(n-1)/2
// pairwise slopes (2 M slopes, 16 MB at n = 2000); above it the slopes of
// sampledPairs random pairs stand in for them.
const (
	exactPairsLimit = 2000
	sampledPairs    = 2_000_000
)

// TheilSen fits a line by the Theil–Sen method: the slope is the median
// of the slopes (y_j - y_i)/(x_j - x_i) over all pairs with x_i ≠ x_j,
// the intercept the median of y_i - slope·x_i. Up to 29% of the points can
// be arbitrary outliers without moving the fit far. confidence in (0, 1)
// sets the slope interval; 0 means 0.95. Above 2000 points the median is
// taken over 2,000,000 pairs drawn with a fixed seed, which keeps the
// cost bounded and the result deterministic but approximate.
//
// It returns an error wrapping ErrInvalid when the lengths differ, there
// are fewer than two distinct x, or a value is NaN or infinite.
func TheilSen(x, y []float64, confidence float64) (Line, error) {
	if err := checkXY("Theil-Sen fit", x, y, 2); err != nil {
		return Line{}, err
	}
	if confidence == 0 {
		confidence = 0.95
	}
	if !(confidence > 0 && confidence < 1) {
		return Line{}, fmt.Errorf("Theil-Sen fit: confidence %v out of range (0, 1): %w", confidence, ErrInvalid)
	}
	n := len(x)
	var slopes []float64
	if n <= exactPairsLimit {
		slopes = make([]float64, 0, n*(n-1)/2)
		for i := range n {
			for j := i + 1; j < n; j++ {
				if dx := x[j] - x[i]; dx != 0 {
					slopes = append(slopes, (y[j]-y[i])/dx)
				}
			}
		}
	} else {
		rng := rand.New(rand.NewPCG(uint64(n), 0x7e11))
		slopes = make([]float64, 0, sampledPairs)
		for tries := 0; len(slopes) < sampledPairs && tries < 4*sampledPairs; tries++ {
			i, j := rng.IntN(n), rng.IntN(n)
			if dx := x[j] - x[i]; dx != 0 {
				slopes = append(slopes, (y[j]-y[i])/dx)
			}
		}
	}
	if len(slopes) == 0 {
		return Line{}, fmt.Errorf("Theil-Sen fit: all %d x values are equal: %w", n, ErrInvalid)
	}
	var l Line
	l.Slope = median(slopes)

	// Sen's interval: with N slopes and C = z·sqrt(Var S), the bounds are
	// the M1-th and (M2+1)-th smallest slopes, M1 = (N-C)/2, M2 = (N+C)/2.
	// For sampled slopes the ranks are scaled to the sample.
	z := math.Sqrt2 * math.Erfinv(confidence)
	nPairs := float64(n) * float64(n-1) / 2
	c := z * math.Sqrt(kendallVariance(y)) * float64(len(slopes)) / nPairs
	N := float64(len(slopes))
	lo := int(math.Round((N-c)/2)) - 1
	hi := int(math.Round((N + c) / 2))
	l.SlopeLow = selectK(slopes, min(max(lo, 0), len(slopes)-1))
	l.SlopeHigh = selectK(slopes, min(max(hi, 0), len(slopes)-1))

	resid := make([]float64, n)
	for i := range resid {
		resid[i] = y[i] - l.Slope*x[i]
	}
	l.Intercept = median(resid)
	return l, nil
}

// TrendTest is the result of a Mann–Kendall trend test.
type TrendTest struct {
	// S is Kendall's statistic Σ sign(x_j - x_i)·sign(y_j - y_i): positive
	// for a rising series.
	S float64
	// Var is the variance of S under no trend, corrected for ties in y.
	Var float64
	// Z is the continuity-corrected normal score (S ∓ 1)/sqrt(Var).
	Z float64
	// P is the two-sided p-value: the probability of a |Z| at least this
	// large in a series without trend.
	P float64
}

// MannKendall tests y for a monotonic trend in x (the times; they need
// not be sorted). Pairs with equal x count as zero. It uses the normal
// approximation, good from about 10 points. Its cost is O(n²): aggregate
// long histories (hourly or daily medians) before testing them. It returns an error wrapping
// ErrInvalid when the lengths differ, there are fewer than three points,
// or a value is NaN or infinite.
func MannKendall(x, y []float64) (TrendTest, error) {
	if err := checkXY("Mann-Kendall test", x, y, 3); err != nil {
		return TrendTest{}, err
	}
	var s int
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			s += sign(x[j]-x[i]) * sign(y[j]-y[i])
		}
	}
	t := TrendTest{S: float64(s), Var: kendallVariance(y)}
	switch {
	case t.Var == 0:
		t.P = 1
		return t, nil
	case s > 0:
		t.Z = (t.S - 1) / math.Sqrt(t.Var)
	case s < 0:
		t.Z = (t.S + 1) / math.Sqrt(t.Var)
	}
	t.P = math.Erfc(math.Abs(t.Z) / math.Sqrt2)
	return t, nil
}

// kendallVariance is Var S = [n(n-1)(2n+5) - Σ t(t-1)(2t+5)]/18 over the
// groups of t tied values of y.
func kendallVariance(y []float64) float64 {
	n := float64(len(y))
	v := n * (n - 1) * (2*n + 5)
	sorted := slices.Clone(y)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		t := float64(j - i)
		v -= t * (t - 1) * (2*t + 5)
		i = j
	}
	return v / 18
}

func sign(v float64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func checkXY(op string, x, y []float64, minLen int) error {
	if len(x) != len(y) {
		return fmt.Errorf("%s: %d times and %d values: %w", op, len(x), len(y), ErrInvalid)
	}
	if len(x) < minLen {
		return fmt.Errorf("%s: %d points, need at least %d: %w", op, len(x), minLen, ErrInvalid)
	}
	for i := range x {
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return fmt.Errorf("%s: point %d (%v, %v) is not finite: %w", op, i, x[i], y[i], ErrInvalid)
		}
	}
	return nil
}

// median returns the median of a, reordering a.
func median(a []float64) float64 {
	n := len(a)
	m := selectK(a, n/2)
	if n%2 == 1 {
		return m
	}
	// After selectK, a[:n/2] holds the smaller half.
	return (m + slices.Max(a[:n/2])) / 2
}

// selectK returns the k-th smallest element (0-based) of a, reordering a
// so that a[:k] <= a[k] <= a[k+1:] (Hoare's quickselect with a
// median-of-three pivot, expected linear time).
func selectK(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Order a[lo], a[mid], a[hi] so a[mid] is their median.
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		p := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// Trend directions reported by Forecast.
const (
	TrendRising  = "rising"
	TrendFalling = "falling"
	TrendNone    = "none"
)

// ForecastConfig sets up Forecast. The zero value means the documented
// defaults.
type ForecastConfig struct {
	// Alpha is the significance level of the Mann–Kendall test below
	// which a trend counts. Defaults to 0.05.
	Alpha float64
	// Confidence is the confidence level of the slope interval and the
	// crossing interval. Defaults to 0.95.
	Confidence float64
}

// Projection is a trend fitted to a series and where it meets a limit.
type Projection struct {
	// Trend is TrendRising or TrendFalling when the Mann–Kendall test is
	// significant and the fitted line heads toward the limit (it is below
	// an upper limit and rising, or above it and falling); otherwise
	// TrendNone, and the times below are zero.
	Trend string
	// Slope is the Theil–Sen slope in value units per second, with its
	// confidence interval [SlopeLow, SlopeHigh].
	Slope, SlopeLow, SlopeHigh float64
	// Intercept is the fitted value at Origin, the first time.
	Intercept float64
	Origin    time.Time
	// Level is the fitted value at the last time.
	Level float64
	// P is the Mann–Kendall two-sided p-value.
	P float64
	// CrossesAt is when the fitted line reaches the limit.
	CrossesAt time.Time
	// Earliest and Latest bound CrossesAt: the line is turned about the
	// data's centre (median time, fitted value there) to the slopes
	// SlopeHigh and SlopeLow. Latest is zero when the slower bound does
	// not reach the limit at all (its slope is zero or points away).
	Earliest, Latest time.Time
}

// Forecast is ForecastConfig{}.Forecast: a trend at the 5% level with a
// 95% crossing interval.
func Forecast(times []time.Time, values []float64, limit float64) (Projection, error) {
	return ForecastConfig{}.Forecast(times, values, limit)
}

// Forecast fits a Theil–Sen line to values over times, tests it with
// Mann–Kendall, and projects when it reaches limit. It returns an error
// wrapping ErrInvalid when the lengths differ, there are fewer than three
// points or two distinct times, or a value or setting is out of range.
func (c ForecastConfig) Forecast(times []time.Time, values []float64, limit float64) (Projection, error) {
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if c.Confidence == 0 {
		c.Confidence = 0.95
	}
	if !(c.Alpha > 0 && c.Alpha < 1) {
		return Projection{}, fmt.Errorf("forecast: ForecastConfig.Alpha %v out of range (0, 1): %w", c.Alpha, ErrInvalid)
	}
	if math.IsNaN(limit) || math.IsInf(limit, 0) {
		return Projection{}, fmt.Errorf("forecast: limit %v is not finite: %w", limit, ErrInvalid)
	}
	if len(times) != len(values) || len(times) == 0 {
		return Projection{}, fmt.Errorf("forecast: %d times and %d values: %w", len(times), len(values), ErrInvalid)
	}
	origin := times[0]
	x := make([]float64, len(times))
	last := 0.0
	for i, t := range times {
		x[i] = t.Sub(origin).Seconds()
		last = max(last, x[i])
	}
	mk, err := MannKendall(x, values)
	if err != nil {
		return Projection{}, fmt.Errorf("forecast: %w", err)
	}
	line, err := TheilSen(x, values, c.Confidence)
	if err != nil {
		return Projection{}, fmt.Errorf("forecast: %w", err)
	}
	p := Projection{
		Trend:     TrendNone,
		Slope:     line.Slope,
		SlopeLow:  line.SlopeLow,
		SlopeHigh: line.SlopeHigh,
		Intercept: line.Intercept,
		Origin:    origin,
		Level:     line.At(last),
		P:         mk.P,
	}
	rising := line.Slope > 0 && mk.S > 0 && limit >= p.Level
	falling := line.Slope < 0 && mk.S < 0 && limit <= p.Level
	if mk.P > c.Alpha || !(rising || falling) {
		return p, nil
	}
	p.Trend = TrendRising
	fast, slow := line.SlopeHigh, line.SlopeLow
	if falling {
		p.Trend = TrendFalling
		fast, slow = slow, fast
	}
	at := func(sec float64) time.Time {
		// Beyond ±290 years a Duration overflows; clamp, it means "never".
		ns := min(max(sec*float64(time.Second), math.MinInt64/2), math.MaxInt64/2)
		return origin.Add(time.Duration(ns))
	}
	p.CrossesAt = at((limit - line.Intercept) / line.Slope)
	xc := median(slices.Clone(x))
	yc := line.At(xc)
	if fast*line.Slope > 0 {
		p.Earliest = at(xc + (limit-yc)/fast)
	}
	if slow*line.Slope > 0 {
		p.Latest = at(xc + (limit-yc)/slow)
	}
	return p, nil
}
