package firmware_test

import (
	"math"
	"testing"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/firmware"
)

// signal returns a machine-like acceleration record (g), quantized to the
// MPU6050's ±16 g step (1/2048 g) like the node sees it: 1x and harmonics,
// a gravity offset, broadband noise and periodic impacts.
func signal(n int, fs float64, seed uint64, impacts bool) []float64 {
	x := make([]float64, n)
	for i := range x {
		t := float64(i) / fs
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		noise := (float64(seed>>11)/(1<<53) - 0.5) * 0.05
		v := 1 + 0.08*math.Sin(2*math.Pi*24.7*t) + 0.03*math.Sin(2*math.Pi*49.4*t+1) + 0.01*math.Sin(2*math.Pi*310*t) + noise
		if impacts && i%97 < 3 {
			v += 0.4 * float64(3-i%97)
		}
		x[i] = math.Round(v*2048) / 2048
	}
	return x
}

// TestFeaturesMatchDSP compares the node's float32 streaming features
// with the server's float64 dsp definitions on the same quantized samples.
// Tolerances: float32 carries 24 bits (6e-8); Welford updates keep the
// error near √n·eps, and the worst case n·eps over 4096 samples is 2.4e-4,
// so 1e-3 relative bounds RMS, peak and crest with margin, and kurtosis
// (a ratio of fourth moments) and velocity (a float32 FFT, log2(n) passes
// of rounding) get 2e-3. Both are far below the sensor's own resolution
// (0.5 mg at ±16 g is 1e-2 of a 50 mg RMS).
func TestFeaturesMatchDSP(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		fs      float64
		fft     int
		impacts bool
	}{
		{"1 kHz, one 1024 segment", 1024, 1000, 1024, false},
		{"1 kHz, impacts", 1024, 1000, 1024, true},
		{"4 kHz, 4096 samples", 4096, 4000, 4096, true},
		{"1 kHz, 2048 samples, Welch of 1024", 2048, 1000, 1024, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := signal(tt.n, tt.fs, 42, tt.impacts)
			var want dsp.Features
			dsp.TimeFeatures(&want, x)
			band, _ := dsp.VelocityBand(0, 0, tt.fs, 0)
			var spec dsp.Spectrum
			dsp.NewWelch(tt.fft).Estimate(&spec, x, tt.fs, 0.5, nil)
			want.VelRMS = dsp.VelocityRMS(&spec, band)

			var m firmware.Moments
			x32 := make([]float32, len(x))
			for i, v := range x {
				x32[i] = float32(v)
				m.Add(x32[i])
			}
			got := m.Features()
			lo, hi, _ := firmware.VelocityBand(float32(tt.fs), 0)
			got.VelRMS = firmware.NewVelocity(tt.fft).RMS(x32, float32(tt.fs), lo, hi)

			check := func(name string, got float32, want, tol float64) {
				t.Helper()
				if d := math.Abs(float64(got)-want) / want; d > tol {
					t.Errorf("%s = %.6g, dsp %.6g (relative error %.2g > %.2g)", name, got, want, d, tol)
				}
			}
			check("acc rms", got.AccRMS, want.AccRMS, 1e-3)
			check("acc peak", got.AccPeak, want.AccPeak, 1e-3)
			check("crest", got.Crest, want.Crest, 1e-3)
			check("kurtosis", got.Kurtosis, want.Kurtosis, 2e-3)
			check("velocity rms", got.VelRMS, want.VelRMS, 2e-3)
		})
	}
}

func TestVelocityBandMatchesDSP(t *testing.T) {
	for _, c := range []struct{ fs, lp float64 }{{1000, 0}, {4000, 0}, {4000, 260}, {100, 0}} {
		want, wantCov := dsp.VelocityBand(0, 0, c.fs, c.lp)
		lo, hi, cov := firmware.VelocityBand(float32(c.fs), float32(c.lp))
		if float64(lo) != want[0] || math.Abs(float64(hi)-want[1]) > 1e-3 || cov != wantCov {
			t.Errorf("fs %g lp %g: band %g..%g covered %v, dsp %v covered %v", c.fs, c.lp, lo, hi, cov, want, wantCov)
		}
	}
}

func BenchmarkVelocity1024(b *testing.B) {
	x := signal(1024, 1000, 1, false)
	x32 := make([]float32, len(x))
	for i := range x {
		x32[i] = float32(x[i])
	}
	v := firmware.NewVelocity(1024)
	b.ReportAllocs()
	for b.Loop() {
		v.RMS(x32, 1000, 10, 450)
	}
}
