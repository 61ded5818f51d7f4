package sim

import (
	"fmt"

	"github.com/vibemon/vibemon/dsp"
)

// Scenario is one cell of the evaluation grid: a machine with one fault
// (or none) at a fixed severity, a noise level and a sensor. Scoring
// harnesses build the model with Model and record with Sensor.Measure.
type Scenario struct {
	Name       string  // e.g. "bearing_outer_race/high/noise-medium/piezo-25600"
	Fault      string  // a dsp.Fault* kind, or dsp.FaultNormal
	Level      string  // "low", "medium", "high"; "" for a healthy machine
	Severity   float64 // SeverityLow, SeverityMedium or SeverityHigh; 0 when healthy
	NoiseLevel string  // "low", "medium", "high"
	Noise      float64 // NoiseLow, NoiseMedium or NoiseHigh
	Sensor     Sensor
}

// Scenarios returns the full grid: every fault kind of the diagnosis
// vocabulary (and a healthy machine) × severity low/medium/high × noise
// low/medium/high × sensor (MPU6050 at 1 kHz, ±8 g; piezo at 12 kHz and
// at 25.6 kHz). That is (7·3 + 1)·3·3 = 198 scenarios.
func Scenarios() []Scenario {
	sensors := []struct {
		name string
		s    Sensor
	}{{"mpu6050-1000", MPU6050(8)}, {"piezo-12000", Piezo(12000)}, {"piezo-25600", Piezo(25600)}}
	levels := []struct {
		name string
		v    float64
	}{{"low", SeverityLow}, {"medium", SeverityMedium}, {"high", SeverityHigh}}
	noises := []struct {
		name string
		v    float64
	}{{"low", NoiseLow}, {"medium", NoiseMedium}, {"high", NoiseHigh}}
	faults := []string{dsp.FaultNormal}
	faults = append(faults, FaultKinds()[:7]...)

	var out []Scenario
	for _, kind := range faults {
		for _, lv := range levels {
			if kind == dsp.FaultNormal && lv.name != "low" {
				continue
			}
			for _, nz := range noises {
				for _, se := range sensors {
					sc := Scenario{Fault: kind, NoiseLevel: nz.name, Noise: nz.v, Sensor: se.s}
					if kind != dsp.FaultNormal {
						sc.Level, sc.Severity = lv.name, lv.v
						sc.Name = fmt.Sprintf("%s/%s/noise-%s/%s", kind, lv.name, nz.name, se.name)
					} else {
						sc.Name = fmt.Sprintf("%s/noise-%s/%s", kind, nz.name, se.name)
					}
					out = append(out, sc)
				}
			}
		}
	}
	return out
}

// Model returns a machine at rpm with bearing (which bearing faults need)
// showing the scenario: the fault present from time 0 at its fixed
// severity, the scenario's noise, everything else as NewSignalModel.
func (sc Scenario) Model(rpm float64, bearing dsp.Bearing, seed uint64) *SignalModel {
	m := NewSignalModel(rpm, bearing, seed)
	m.Noise = sc.Noise
	if sc.Fault != dsp.FaultNormal && sc.Fault != "" {
		m.Faults = []Fault{{Kind: sc.Fault, Growth: Growth{Curve: Step, Max: sc.Severity}}}
	}
	return m
}
