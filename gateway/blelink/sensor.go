package blelink

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

// simSensor is a node's MPU6050, DS18B20 and battery ADC. Its FIFO fills
// at the sample rate of the fleet's clock; the samples come from sim's
// signal model through sim.MPU6050 (Physics) or from a cheap sine plus
// noise.
type simSensor struct {
	f     *Fleet
	rate  int
	rangG int
	last  time.Time // simulated time up to which samples were produced
	frame int64     // samples produced since Init

	model   *sim.SignalModel
	mpu     sim.Sensor
	block   [3][]float64
	blockAt int64 // frame index of block[.][0]
	rng     *rand.Rand
	hz      float64
	born    time.Time
}

func newSimSensor(f *Fleet, i int) *simSensor {
	s := &simSensor{f: f, rng: rand.New(rand.NewPCG(f.cfg.Seed, uint64(i)+1000)), hz: 24.5 + float64(i%7), blockAt: -1}
	if f.cfg.Physics {
		rpm := 1470 + float64(i%5)*300
		s.model = sim.NewSignalModel(rpm, dsp.Bearing{}, f.cfg.Seed+uint64(i))
		s.mpu = sim.MPU6050(16)
		for a := range s.block {
			s.block[a] = make([]float64, 256)
		}
	}
	return s
}

// Init implements firmware.Sensor.
func (s *simSensor) Init(rangeG, rateHz int) error {
	s.rate, s.rangG, s.last, s.frame = rateHz, rangeG, s.f.clock.Now(), 0
	if s.born.IsZero() {
		s.born = s.last
	}
	s.blockAt = -1
	return nil
}

// ReadAccelFIFO implements firmware.Sensor: the frames due since the last
// read, at most a full FIFO (170 frames).
func (s *simSensor) ReadAccelFIFO(dst []int16) (int, error) {
	now := s.f.clock.Now()
	due := int(now.Sub(s.last) * time.Duration(s.rate) / time.Second)
	if due <= 0 {
		return 0, nil
	}
	lost := max(0, due-170) // the FIFO overflowed: the oldest are gone
	s.frame += int64(lost)
	due = min(due-lost, len(dst)/3)
	perG := 32768 / float64(s.rangG)
	for i := range due {
		x, y, z := s.sample(s.frame)
		dst[3*i] = clamp16(x * perG)
		dst[3*i+1] = clamp16(y * perG)
		dst[3*i+2] = clamp16(z * perG)
		s.frame++
	}
	s.last = s.last.Add(time.Duration(due+lost) * time.Second / time.Duration(s.rate))
	return 3 * due, nil
}

func (s *simSensor) sample(k int64) (x, y, z float64) {
	if s.model == nil {
		ph := 2 * math.Pi * s.hz * float64(k) / float64(s.rate)
		return 0.1*math.Sin(ph) + 0.01*s.rng.NormFloat64(), 1 + 0.05*math.Cos(ph) + 0.01*s.rng.NormFloat64(), 0.03 * math.Sin(2*ph)
	}
	n := int64(len(s.block[0]))
	if s.blockAt < 0 || k < s.blockAt || k >= s.blockAt+n {
		s.blockAt = k - k%n
		t0 := s.last.Sub(s.born) + time.Duration(s.blockAt-s.frame)*time.Second/time.Duration(s.rate)
		s.mpu.Rate = float64(s.rate)
		s.mpu.Measure(s.block, s.model, max(t0, 0))
	}
	i := k - s.blockAt
	return s.block[0][i], s.block[1][i], s.block[2][i]
}

func clamp16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

// StartTemperature implements firmware.Sensor.
func (s *simSensor) StartTemperature() error { return nil }

// ReadTemperature implements firmware.Sensor.
func (s *simSensor) ReadTemperature() (float32, error) {
	if s.model != nil {
		return float32(s.model.Temperature(s.f.clock.Now().Sub(s.born))), nil
	}
	return float32(31.5 + 0.5*s.rng.Float64()), nil
}

// BatteryVolts implements firmware.Sensor: a slow drain from 4.1 V.
func (s *simSensor) BatteryVolts() (float32, error) {
	days := s.f.clock.Now().Sub(s.born).Hours() / 24
	return float32(max(3.3, 4.1-0.002*days)), nil
}
