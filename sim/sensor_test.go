package sim

import (
	"math"
	"testing"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

// quiet returns a model with no random parts and no speed wobble.
func quiet(rpm float64) *SignalModel {
	m := NewSignalModel(rpm, dsp.Bearing{}, 5)
	m.Noise, m.Roughness, m.SpeedWobble = 0, 0, 0
	return m
}

func TestMPU6050LowPassStopsAliasing(t *testing.T) {
	// A 1.7 kHz gear mesh, far above the MPU6050's 260 Hz low-pass, would
	// fold to 300 Hz in a 1 kHz record if nothing filtered it.
	m := quiet(3000)
	m.Gear = GearMesh{Teeth: 34, Amp: 1}
	x := record(4096)
	tests := []struct {
		name    string
		lowPass float64
		check   func(alias float64) bool
		want    string
	}{
		{"with the DLPF", 260, func(a float64) bool { return a < 1e-3 }, "< 1 mg"},
		{"without a filter", 0, func(a float64) bool { return a > 0.5 }, "> 0.5 g: the test tone must alias when nothing stops it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MPU6050(16)
			s.LowPassHz = tt.lowPass
			s.NoiseDensity = 0
			s.Measure(x, m, time.Minute)
			if got := ampSpectrum(t, x[AxisX], s.Rate).at(300, 1); !tt.check(got) {
				t.Errorf("alias of the 1700 Hz tone at 300 Hz: %.4g g, want %s", got, tt.want)
			}
		})
	}
}

func TestMPU6050SpectrumEndsAtItsBandwidth(t *testing.T) {
	m := quiet(1800)
	m.Noise = NoiseHigh // white: flat before the sensor
	s := MPU6050(8)
	x := record(1 << 14)
	s.Measure(x, m, time.Minute)
	sp := ampSpectrum(t, x[AxisX], s.Rate)
	mean := func(lo, hi float64) float64 {
		var sum float64
		k0, k1 := int(lo/sp.df), int(hi/sp.df)
		for k := k0; k <= k1; k++ {
			sum += sp.amp[k]
		}
		return sum / float64(k1-k0+1)
	}
	pass, top := mean(60, 150), mean(420, 500)
	if r := dB(top, pass); r > -15 {
		t.Errorf("420–500 Hz is %.1f dB relative to 60–150 Hz, want <= -15 dB (260 Hz low-pass)", r)
	}
}

func TestSensorQuantizesAndClipsAtFullScale(t *testing.T) {
	m := quiet(1800)
	m.Faults = []Fault{{Kind: dsp.FaultImbalance, Growth: Growth{Curve: Step}, Gain: 10}} // ~2 g at 1×
	x := record(2000)
	tests := []struct {
		fullScale   float64
		wantClipped bool
	}{{2, true}, {16, false}}
	for _, tt := range tests {
		s := MPU6050(tt.fullScale)
		g := s.Measure(x, m, time.Minute)
		lsb := 2 * tt.fullScale / 65536
		hi, lo := math.Inf(-1), math.Inf(1)
		for a := range x {
			for _, v := range x[a] {
				hi, lo = max(hi, v), min(lo, v)
				if q := v / lsb; q != math.Round(q) {
					t.Fatalf("±%g g: sample %g is not a multiple of the LSB %g", tt.fullScale, v, lsb)
				}
			}
		}
		if tt.wantClipped {
			if g.Clipped == 0 || hi != tt.fullScale-lsb || lo < -tt.fullScale {
				t.Errorf("±%g g: %d clipped, range [%g, %g]; want clipping, max = %g exactly", tt.fullScale, g.Clipped, lo, hi, tt.fullScale-lsb)
			}
		} else if g.Clipped != 0 || hi < 2 {
			t.Errorf("±%g g: %d clipped, max %g; want no clipping and the vertical axis above 2 g (1 g gravity + vibration)", tt.fullScale, g.Clipped, hi)
		}
	}
}

func TestGravityOnlyOnDCCoupledSensors(t *testing.T) {
	m := quiet(1800)
	x := record(4096)
	tests := []struct {
		s    Sensor
		want [3]float64
	}{{MPU6050(4), [3]float64{0, 1, 0}}, {Piezo(12000), [3]float64{}}}
	for _, tt := range tests {
		tt.s.Measure(x, m, 0)
		for a := range x {
			var mean float64
			for _, v := range x[a] {
				mean += v
			}
			mean /= float64(len(x[a]))
			if math.Abs(mean-tt.want[a]) > 0.01 {
				t.Errorf("%s axis %d: mean %.4f g, want %g", tt.s.Name, a, mean, tt.want[a])
			}
		}
	}
}

func TestMPU6050FullScaleSteps(t *testing.T) {
	for _, tt := range []struct{ ask, want float64 }{{2, 2}, {3, 4}, {8, 8}, {9, 16}, {100, 16}} {
		if got := MPU6050(tt.ask).FullScale; got != tt.want {
			t.Errorf("MPU6050(%g).FullScale = %g, want %g", tt.ask, got, tt.want)
		}
	}
}

func TestSensorValidate(t *testing.T) {
	for _, s := range []Sensor{MPU6050(2), MPU6050(16), Piezo(12000), Piezo(25600)} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	bad := []struct {
		name   string
		change func(s *Sensor)
	}{
		{"no rate", func(s *Sensor) { s.Rate = 0 }},
		{"low-pass above the physics Nyquist", func(s *Sensor) { s.LowPassHz = 5000 }},
		{"bits without a range", func(s *Sensor) { s.FullScale = 0 }},
		{"negative noise", func(s *Sensor) { s.NoiseDensity = -1 }},
	}
	for _, tt := range bad {
		s := MPU6050(4)
		tt.change(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tt.name)
		}
	}
}
