package anomaly

import (
	"fmt"
	"math"
)

// EWMAConfig sets up an EWMA control chart. Mean and SD describe the
// in-control baseline (for example a healthy week of RMS velocity); the
// zero value of the other fields means the documented default.
type EWMAConfig struct {
	// Mean is the baseline mean μ0.
	Mean float64
	// SD is the baseline standard deviation σ of one observation; it must
	// be positive.
	SD float64
	// Lambda is the smoothing weight λ in (0, 1]: z = λx + (1-λ)z.
	// Defaults to 0.2.
	Lambda float64
	// L is the width of the control limits in standard deviations of z.
	// Defaults to 2.962, which with λ = 0.2 gives an in-control average run
	// length of 500 samples and detects a 1σ mean shift after 10.5 samples
	// on average (Lucas & Saccucci 1990, steady-state limits).
	L float64
	// ExactLimits uses the time-varying standard deviation of z,
	// σ·sqrt(λ/(2-λ)·(1-(1-λ)^(2t))), which makes the limits narrower for
	// the first samples after a Reset and so detects a shift that is
	// already present at start sooner, at the price of a few more early
	// false alarms. Defaults to false: the steady-state limits the
	// published run-length tables use.
	ExactLimits bool
}

// EWMA is a streaming exponentially weighted moving average chart that
// alarms when the smoothed value leaves μ0 ± L·σ_z. It is not safe for
// concurrent use.
type EWMA struct {
	cfg    EWMAConfig
	z      float64
	t      int
	sigmaZ float64 // steady-state σ_z
	decay  float64 // (1-λ)^(2t), for exact limits
}

// NewEWMA returns an EWMA chart starting at the baseline mean. It returns
// an error wrapping ErrInvalid if SD is not positive or Lambda or L is out
// of range.
func NewEWMA(cfg EWMAConfig) (*EWMA, error) {
	if cfg.Lambda == 0 {
		cfg.Lambda = 0.2
	}
	if cfg.L == 0 {
		cfg.L = 2.962
	}
	switch {
	case !(cfg.SD > 0) || math.IsInf(cfg.SD, 0):
		return nil, fmt.Errorf("new EWMA: EWMAConfig.SD %v must be positive: %w", cfg.SD, ErrInvalid)
	case math.IsNaN(cfg.Mean) || math.IsInf(cfg.Mean, 0):
		return nil, fmt.Errorf("new EWMA: EWMAConfig.Mean %v must be finite: %w", cfg.Mean, ErrInvalid)
	case !(cfg.Lambda > 0 && cfg.Lambda <= 1):
		return nil, fmt.Errorf("new EWMA: EWMAConfig.Lambda %v out of range (0, 1]: %w", cfg.Lambda, ErrInvalid)
	case !(cfg.L > 0) || math.IsInf(cfg.L, 0):
		return nil, fmt.Errorf("new EWMA: EWMAConfig.L %v must be positive: %w", cfg.L, ErrInvalid)
	}
	e := &EWMA{cfg: cfg, sigmaZ: cfg.SD * math.Sqrt(cfg.Lambda/(2-cfg.Lambda))}
	e.Reset()
	return e, nil
}

// Reset restarts the chart at the baseline mean, as after acting on an
// alarm.
func (e *EWMA) Reset() {
	e.z, e.t, e.decay = e.cfg.Mean, 0, 1
}

// Update feeds one observation and reports whether the smoothed value is
// outside the control limits. NaN and infinite observations are ignored
// (no alarm, no state change). The chart keeps alarming while the shift
// persists; call Reset to re-arm it.
func (e *EWMA) Update(x float64) (alarm bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	l := e.cfg.Lambda
	e.z = l*x + (1-l)*e.z
	e.t++
	e.decay *= (1 - l) * (1 - l)
	lo, hi := e.Limits()
	return e.z < lo || e.z > hi
}

// Value returns the smoothed value z.
func (e *EWMA) Value() float64 { return e.z }

// Limits returns the current lower and upper control limits.
func (e *EWMA) Limits() (lo, hi float64) {
	s := e.sigmaZ
	if e.cfg.ExactLimits {
		s *= math.Sqrt(1 - e.decay)
	}
	w := e.cfg.L * s
	return e.cfg.Mean - w, e.cfg.Mean + w
}

// CUSUMConfig sets up a two-sided tabular CUSUM. Mean and SD describe the
// in-control baseline; K and H are in units of SD; the zero value of K and
// H means the documented default.
type CUSUMConfig struct {
	// Mean is the baseline mean μ0.
	Mean float64
	// SD is the baseline standard deviation σ; it must be positive.
	SD float64
	// K is the reference value (allowance) k: deviations smaller than kσ
	// are absorbed. Half the shift to detect fastest. Defaults to 0.5 (a
	// 1σ shift).
	K float64
	// H is the decision interval h. Defaults to 5, which with k = 0.5
	// gives an in-control average run length of 465 samples and detects a
	// 1σ shift after 10.4 samples on average (Montgomery, Introduction to
	// Statistical Quality Control, table 9.3).
	H float64
}

// CUSUM is a streaming two-sided tabular CUSUM chart:
//
//	C⁺ = max(0, C⁺ + x - (μ0 + kσ)),  C⁻ = max(0, C⁻ + (μ0 - kσ) - x)
//
// alarming when either exceeds hσ. It is not safe for concurrent use.
type CUSUM struct {
	cfg          CUSUMConfig
	upper, lower float64
}

// NewCUSUM returns a CUSUM chart with both sums at zero. It returns an
// error wrapping ErrInvalid if SD is not positive or K or H is out of
// range.
func NewCUSUM(cfg CUSUMConfig) (*CUSUM, error) {
	if cfg.K == 0 {
		cfg.K = 0.5
	}
	if cfg.H == 0 {
		cfg.H = 5
	}
	switch {
	case !(cfg.SD > 0) || math.IsInf(cfg.SD, 0):
		return nil, fmt.Errorf("new CUSUM: CUSUMConfig.SD %v must be positive: %w", cfg.SD, ErrInvalid)
	case math.IsNaN(cfg.Mean) || math.IsInf(cfg.Mean, 0):
		return nil, fmt.Errorf("new CUSUM: CUSUMConfig.Mean %v must be finite: %w", cfg.Mean, ErrInvalid)
	case !(cfg.K > 0) || math.IsInf(cfg.K, 0):
		return nil, fmt.Errorf("new CUSUM: CUSUMConfig.K %v must be positive: %w", cfg.K, ErrInvalid)
	case !(cfg.H > 0) || math.IsInf(cfg.H, 0):
		return nil, fmt.Errorf("new CUSUM: CUSUMConfig.H %v must be positive: %w", cfg.H, ErrInvalid)
	}
	return &CUSUM{cfg: cfg}, nil
}

// Reset sets both sums to zero, as after acting on an alarm.
func (c *CUSUM) Reset() { c.upper, c.lower = 0, 0 }

// Update feeds one observation and reports whether either sum exceeds the
// decision interval. NaN and infinite observations are ignored. The chart
// keeps alarming while the shift persists; call Reset to re-arm it.
func (c *CUSUM) Update(x float64) (alarm bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	k := c.cfg.K * c.cfg.SD
	c.upper = max(0, c.upper+x-(c.cfg.Mean+k))
	c.lower = max(0, c.lower+(c.cfg.Mean-k)-x)
	h := c.cfg.H * c.cfg.SD
	return c.upper > h || c.lower > h
}

// Upper returns C⁺ in units of SD: evidence of an upward shift.
func (c *CUSUM) Upper() float64 { return c.upper / c.cfg.SD }

// Lower returns C⁻ in units of SD: evidence of a downward shift.
func (c *CUSUM) Lower() float64 { return c.lower / c.cfg.SD }
