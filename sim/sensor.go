package sim

import (
	"fmt"
	"math"
	"time"
)

// Sensor is an accelerometer and its acquisition chain: the physics is
// simulated at Rate·Oversample, low-pass filtered (the anti-alias filter
// or a MEMS part's digital low-pass), decimated to Rate, offset by
// gravity, quantized to Bits over ±FullScale and clipped there.
type Sensor struct {
	Name string
	// Rate is the output data rate, Hz.
	Rate float64
	// LowPassHz is the corner of the anti-alias / digital low-pass filter,
	// modelled as a 4th-order Butterworth; 0 means none.
	LowPassHz float64
	// Oversample is how many physics samples the sensor sees per output
	// sample; 0 means 4.
	Oversample int
	// FullScale is the measuring range ±FullScale, g; 0 means no clipping.
	FullScale float64
	// Bits is the converter resolution over ±FullScale; 0 means no
	// quantization.
	Bits int
	// NoiseDensity is the sensor's own noise, g/√Hz, added before the
	// low-pass filter.
	NoiseDensity float64
	// Gravity is the static acceleration each axis reads, g: a DC-coupled
	// MEMS part sees 1 g on the vertical axis; a piezo sensor sees none.
	Gravity [3]float64
}

// MPU6050 returns the InvenSense MPU-6050 as a VibeMon node runs it: 1 kHz
// output data rate with the digital low-pass at its widest (DLPF_CFG = 0,
// 260 Hz accelerometer bandwidth), 16 bits over ±fullScale g (2, 4, 8 or
// 16; anything else is rounded up to the next of these), 400 µg/√Hz noise
// (datasheet, rev. 3.4, table 6.2), mounted with Y vertical.
func MPU6050(fullScale float64) Sensor {
	fs := 16.0
	for _, r := range []float64{2, 4, 8, 16} {
		if fullScale <= r {
			fs = r
			break
		}
	}
	return Sensor{
		Name:         fmt.Sprintf("MPU6050 ±%gg", fs),
		Rate:         1000,
		LowPassHz:    260,
		Oversample:   4,
		FullScale:    fs,
		Bits:         16,
		NoiseDensity: 400e-6,
		Gravity:      [3]float64{0, 1, 0},
	}
}

// Piezo returns an industrial IEPE (piezoelectric) accelerometer on a data
// acquisition card sampling at rate (typically 12 000 to 25 600 Hz): the
// usual anti-alias corner at rate/2.56, ±50 g range, 24-bit converter,
// 5 µg/√Hz noise, AC-coupled so it reads no gravity.
func Piezo(rate float64) Sensor {
	return Sensor{
		Name:         fmt.Sprintf("IEPE piezo %g Hz", rate),
		Rate:         rate,
		LowPassHz:    rate / 2.56,
		Oversample:   2,
		FullScale:    50,
		Bits:         24,
		NoiseDensity: 5e-6,
	}
}

// Validate reports the first implausible field.
func (s Sensor) Validate() error {
	switch {
	case !(s.Rate > 0) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("sensor %s: rate %g must be positive", s.Name, s.Rate)
	case s.Oversample < 0 || s.Oversample > 64:
		return fmt.Errorf("sensor %s: oversample %d outside [0, 64]", s.Name, s.Oversample)
	case s.LowPassHz < 0 || s.LowPassHz >= s.Rate*float64(s.oversample())/2:
		return fmt.Errorf("sensor %s: low-pass %g Hz outside [0, %g)", s.Name, s.LowPassHz, s.Rate*float64(s.oversample())/2)
	case s.FullScale < 0 || s.Bits < 0 || s.Bits > 32 || (s.Bits > 0 && s.FullScale == 0):
		return fmt.Errorf("sensor %s: full scale %g g with %d bits: want a range for any resolution", s.Name, s.FullScale, s.Bits)
	case s.NoiseDensity < 0:
		return fmt.Errorf("sensor %s: noise density %g is negative", s.Name, s.NoiseDensity)
	}
	return nil
}

func (s Sensor) oversample() int {
	if s.Oversample == 0 {
		return 4
	}
	return s.Oversample
}

// Measure fills dst (three axes of equal length) with what the sensor
// outputs when mounted on m, starting at simulated time t0, and returns
// the ground truth with FS = Rate and the number of clipped samples. Like
// Generate it depends only on its arguments. It panics on an invalid
// sensor or unequal axes.
func (s Sensor) Measure(dst [3][]float64, m *SignalModel, t0 time.Duration) GroundTruth {
	var b measureBuffers
	return s.measure(dst, m, t0, &b)
}

// measureBuffers are the physics-rate buffers of Measure, kept by a Node.
type measureBuffers struct {
	phys [3][]float64
	sc   scratch
}

// Butterworth 4th order as two biquads with these Q values.
var butter4Q = [2]float64{0.5411961001461970, 1.3065629648763764}

type biquad struct{ b0, b1, b2, a1, a2, x1, x2, y1, y2 float64 }

func lowPass(fc, fs, q float64) biquad {
	k := math.Tan(math.Pi * fc / fs)
	norm := 1 / (1 + k/q + k*k)
	b0 := k * k * norm
	return biquad{b0: b0, b1: 2 * b0, b2: b0, a1: 2 * (k*k - 1) * norm, a2: (1 - k/q + k*k) * norm}
}

func (f *biquad) run(x []float64) {
	for i, v := range x {
		y := f.b0*v + f.b1*f.x1 + f.b2*f.x2 - f.a1*f.y1 - f.a2*f.y2
		f.x2, f.x1 = f.x1, v
		f.y2, f.y1 = f.y1, y
		x[i] = y
	}
}

func (s Sensor) measure(dst [3][]float64, m *SignalModel, t0 time.Duration, b *measureBuffers) GroundTruth {
	if err := s.Validate(); err != nil {
		panic("sim: measure: " + err.Error())
	}
	n := len(dst[0])
	if len(dst[1]) != n || len(dst[2]) != n {
		panic(fmt.Sprintf("sim: measure: axis lengths %d/%d/%d", len(dst[0]), len(dst[1]), len(dst[2])))
	}
	osr := s.oversample()
	fp := s.Rate * float64(osr)
	// Warm-up so the filter starts settled: 20 ms, at least 32 samples.
	warm := max(32, int(math.Ceil(0.02*s.Rate)))
	total := (warm + n) * osr
	for a := range b.phys {
		b.phys[a] = grow(b.phys[a], total)
	}
	start := t0.Seconds() - float64(warm)/s.Rate

	g := m.Truth(t0)
	g.FS = s.Rate
	m.generate(b.phys, fp, start, &g, &b.sc, s.NoiseDensity)
	if s.LowPassHz > 0 {
		for a := range b.phys {
			for _, q := range butter4Q {
				f := lowPass(s.LowPassHz, fp, q)
				f.run(b.phys[a])
			}
		}
	}
	lsb, lo, hi := 0.0, math.Inf(-1), math.Inf(1)
	if s.FullScale > 0 {
		lo, hi = -s.FullScale, s.FullScale
		if s.Bits > 0 {
			// Two's complement: codes -2^(B-1) .. 2^(B-1)-1.
			lsb = 2 * s.FullScale / math.Exp2(float64(s.Bits))
			hi = s.FullScale - lsb
		}
	}
	for a := range dst {
		for i := range dst[a] {
			v := b.phys[a][(warm+i)*osr] + s.Gravity[a]
			if lsb > 0 {
				v = math.Round(v/lsb) * lsb
			}
			if v > hi || v < lo {
				g.Clipped++
				v = min(hi, max(lo, v))
			}
			dst[a][i] = v
		}
	}
	return g
}
