package dsp

import "math"

// StandardGravity converts g to m/s²; times 1000 it converts g/(rad/s) to
// mm/s.
const StandardGravity = 9.80665

// ISOBandLo and ISOBandHi are the ISO 10816-3 velocity band, Hz.
const (
	ISOBandLo = 10.0
	ISOBandHi = 1000.0
)

// Features are the condition indicators of one axis over one window.
type Features struct {
	AccRMS   float64 `json:"acc_rms_g"`    // RMS of acceleration with the mean removed, g
	AccPeak  float64 `json:"acc_peak_g"`   // max |x - mean|, g
	Crest    float64 `json:"crest"`        // AccPeak / AccRMS
	Kurtosis float64 `json:"kurtosis"`     // 4th standardized moment, 3 for Gaussian noise
	VelRMS   float64 `json:"vel_rms_mm_s"` // velocity RMS over VelBand, mm/s
	// VelBand is the band the velocity RMS was summed over, Hz: the
	// requested band clipped to 0.45·fs and the sensor's low-pass.
	VelBand [2]float64 `json:"vel_band_hz"`
	// ISOBandCovered is false when VelBand does not include all of
	// 10–1000 Hz, so VelRMS is not comparable with ISO 10816-3 limits.
	ISOBandCovered bool `json:"iso_band_covered"`
}

// TimeFeatures computes the time-domain features of x (in g) into f.
func TimeFeatures(f *Features, x []float64) {
	if len(x) == 0 {
		*f = Features{}
		return
	}
	// Four partial sums: one running sum is bound by the latency of each
	// addition; four independent ones keep the adder busy.
	mean := sum(x) / float64(len(x))
	var a2, b2, c2, e2, a4, b4, c4, e4 float64
	lo, hi := x[0], x[0]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		q := x[i : i+4 : i+4]
		d0, d1, d2, d3 := q[0]-mean, q[1]-mean, q[2]-mean, q[3]-mean
		p0, p1, p2, p3 := d0*d0, d1*d1, d2*d2, d3*d3
		a2 += p0
		b2 += p1
		c2 += p2
		e2 += p3
		a4 += p0 * p0
		b4 += p1 * p1
		c4 += p2 * p2
		e4 += p3 * p3
		// Plain comparisons: the max builtin's NaN rules cost more.
		for _, v := range q {
			if v > hi {
				hi = v
			}
			if v < lo {
				lo = v
			}
		}
	}
	for ; i < len(x); i++ {
		v := x[i]
		d := v - mean
		d2 := d * d
		a2 += d2
		a4 += d2 * d2
		if v > hi {
			hi = v
		}
		if v < lo {
			lo = v
		}
	}
	m2, m4 := (a2+b2)+(c2+e2), (a4+b4)+(c4+e4)
	pk := max(hi-mean, mean-lo)
	m2 /= float64(len(x))
	m4 /= float64(len(x))
	f.AccRMS = math.Sqrt(m2)
	f.AccPeak = pk
	f.Crest, f.Kurtosis = 0, 0
	if m2 > 0 {
		f.Crest = pk / f.AccRMS
		f.Kurtosis = m4 / (m2 * m2)
	}
}

// VelocityBand clips the requested velocity band [lo, hi] (0 means the ISO
// 10816-3 default 10–1000 Hz) to what a record sampled at fs with a sensor
// low-pass at lowPass Hz (0: none) can show: at most 0.45·fs, where an
// anti-alias filter still passes, and at most the low-pass. covered says
// whether the ISO band is fully inside the result.
func VelocityBand(lo, hi, fs, lowPass float64) (band [2]float64, covered bool) {
	if lo <= 0 {
		lo = ISOBandLo
	}
	if hi <= 0 {
		hi = ISOBandHi
	}
	hi = min(hi, 0.45*fs)
	if lowPass > 0 {
		hi = min(hi, lowPass)
	}
	if hi < lo {
		hi = lo
	}
	return [2]float64{lo, hi}, lo <= ISOBandLo && hi >= ISOBandHi
}

// VelocityRMS integrates an acceleration spectrum (PSD in g²/Hz) in the
// frequency domain, V(f) = A(f)·9806.65/(j2πf) mm/s, and returns the RMS of
// the velocity within [band[0], band[1]]. Integrating in the frequency
// domain divides each line by its own 2πf, so there is no drift from
// integrating low-frequency noise and the band limits are exact to a bin.
func VelocityRMS(s *Spectrum, band [2]float64) float64 {
	lo := max(1, int(math.Ceil(band[0]/s.DF)))
	hi := min(len(s.PSD)-1, int(math.Floor(band[1]/s.DF)))
	var sum float64
	for k := lo; k <= hi; k++ {
		g := StandardGravity * 1000 / (2 * math.Pi * float64(k) * s.DF)
		sum += s.PSD[k] * g * g
	}
	return math.Sqrt(sum * s.DF)
}

// sum adds x up in four interleaved partial sums, which run about four
// times faster than one running sum (each addition waits for the last)
// and are at least as accurate.
func sum(x []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		q := x[i : i+4 : i+4]
		s0 += q[0]
		s1 += q[1]
		s2 += q[2]
		s3 += q[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}
