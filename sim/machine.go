package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

// Condition is how a simulated machine ages.
type Condition int

// Conditions.
const (
	Healthy     Condition = iota // stays near its baseline
	Degrading                    // a fault grows until the machine is repaired, then starts again
	Overheating                  // a lubrication problem: temperature climbs with the vibration
)

// Machine is one simulated machine with one sensor node on it.
type Machine struct {
	Name      string
	Type      string
	RPM       float64
	Condition Condition
	// BaseVel is the healthy velocity RMS in mm/s.
	BaseVel float64
	// Onset is the simulated time after the start at which a fault begins;
	// Cycle is how long a fault runs (growing) before a simulated repair.
	Onset, Cycle time.Duration

	// Fault is the kind of fault a Degrading machine develops.
	Fault string

	rng     *rand.Rand
	battery float64
	node    *Node // live feature summaries, as the machine's sensor node computes them
	healthy *healthy
	model   *SignalModel
	sensor  Sensor
}

// BurstSamples is the length of a raw burst per axis from a 1 kHz node
// (4.1 s); a faster sensor sends about 2.5 s, at most 65,536 samples, so
// that its spectra resolve shaft orders and bearing lines (0.4 Hz at
// 12.8 kHz).
const BurstSamples = 4096

func burstSamples(rate float64) int {
	n := BurstSamples
	for float64(n) < 2.5*rate && n < 65536 {
		n *= 2
	}
	return n
}

// NewMachine returns machine i of a fleet, deterministic given seed. Every
// third machine degrades and every fifth overheats, so a demo fleet always
// has something to show; the others are healthy.
func NewMachine(i int, seed uint64) *Machine {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	kinds := []struct {
		name, typ string
		rpm       float64
	}{
		{"Pump", "pump", 2960}, {"Fan", "fan", 1480}, {"Motor", "motor", 1790},
		{"Compressor", "compressor", 3560}, {"Gearbox", "gearbox", 990}, {"Blower", "fan", 2950},
	}
	k := kinds[i%len(kinds)]
	m := &Machine{
		Name:    k.name + " " + string(rune('A'+i/len(kinds)%26)) + "-" + itoa(101+i),
		Type:    k.typ,
		RPM:     k.rpm,
		BaseVel: 0.8 + 1.2*rng.Float64(),
		Onset:   time.Duration(5+rng.IntN(20)) * time.Minute,
		Cycle:   4 * time.Hour,
		rng:     rng,
		battery: 3.9 + 0.3*rng.Float64(),
	}
	switch {
	case i%3 == 1:
		m.Condition = Degrading
	case i%5 == 4:
		m.Condition = Overheating
	}
	m.buildNodes(i, seed)
	return m
}

// buildNodes gives the machine its signal-level physics and sensor nodes.
// Degrading machines take turns at imbalance, an outer-race defect,
// misalignment and looseness. Nodes carry an MPU6050 sampling at 1 kHz,
// through whose 260 Hz low-pass bearing defects are nearly invisible; the
// machine with the bearing defect therefore carries an industrial
// accelerometer at 12.8 kHz, so the demo shows envelope analysis at work.
func (m *Machine) buildNodes(i int, seed uint64) {
	bearing, _ := dsp.LookupBearing("6205")
	model := NewSignalModel(m.RPM, bearing, seed*7919+uint64(i))
	model.Baseline = m.BaseVel
	sensor := MPU6050(4)
	switch m.Condition {
	case Degrading:
		kinds := []string{dsp.FaultImbalance, dsp.FaultOuterRace, dsp.FaultMisalignment, dsp.FaultLooseness}
		m.Fault = kinds[(i/3)%len(kinds)]
		model.Faults = []Fault{{Kind: m.Fault, Onset: m.Onset, Growth: Growth{Curve: Linear, PF: m.Cycle}, Cycle: m.Cycle}}
		if m.Fault == dsp.FaultOuterRace {
			sensor = Piezo(12800)
		}
	case Overheating:
		m.Fault = FaultLubrication
		model.Faults = []Fault{{Kind: FaultLubrication, Onset: m.Onset, Growth: Growth{Curve: Linear, PF: m.Cycle}, Cycle: m.Cycle}}
	}
	m.node = NewNode(model, sensor)
	m.model, m.sensor = model, sensor
}

// LiveReading returns the feature summary the machine's node sends at
// simulated time t, stamped ts: measured from a simulated burst with the
// same feature definitions as the server's.
func (m *Machine) LiveReading(deviceID, seq int64, ts time.Time, t time.Duration) vibemon.Reading {
	r, _ := m.node.Reading(deviceID, seq, ts, t)
	m.battery -= 0.000002
	if m.battery < 3.3 {
		m.battery = 4.2 // someone changed the battery
	}
	r.Values[vibemon.BatteryV] = m.battery
	r.Values[vibemon.RSSIdBm] = -62 + 4*m.rng.NormFloat64()
	return r
}

// Burst measures a raw burst (see BurstSamples) at simulated time t
// and returns it as the node sends it: int16 samples interleaved x, y, z,
// with the scale in g per LSB and the sample rate.
func (m *Machine) Burst(t time.Duration) (data []int16, scale, rate float64) {
	// A node of its own for each burst: its buffers (several MB for a fast
	// sensor) are garbage once the burst is quantized, instead of being
	// held by every machine of a large fleet between bursts a minute apart.
	burst := NewNode(m.model, m.sensor)
	burst.Window = time.Duration(float64(burstSamples(m.sensor.Rate)) / m.sensor.Rate * float64(time.Second))
	burst.Reading(0, 0, time.Time{}, t)
	axes, _ := burst.Burst()
	peak := 1e-6
	for _, a := range axes {
		for _, v := range a {
			peak = math.Max(peak, math.Abs(v))
		}
	}
	scale = peak / 32767
	n := len(axes[0])
	data = make([]int16, 3*n)
	for i := 0; i < n; i++ {
		for a := 0; a < 3; a++ {
			data[3*i+a] = int16(math.Round(axes[a][i] / scale))
		}
	}
	return data, scale, m.sensor.Rate
}

// severity returns the fault's growth in [0, 1] at simulated time t since
// the start: 0 until the onset, then a steady rise that reaches 1 at the end
// of the cycle (linear: 1 ≈ 12 mm/s), after which the machine is repaired and the cycle repeats.
func (m *Machine) severity(t time.Duration) float64 {
	if m.Condition == Healthy || t < m.Onset {
		return 0
	}
	return float64((t-m.Onset)%m.Cycle) / float64(m.Cycle)
}

// healthy is the node's feature summary of the healthy machine, each
// value the mean of two measurements at the start (about 1 ms each, 5 ms
// at 12.8 kHz: a 10,000-machine fleet spends some 25 s of CPU on them
// before its backfill): the level the feature-level model (Reading) grows
// a fault from.
type healthy struct{ vel, acc, crest, kurt [3]float64 }

// healthyLevel measures the healthy levels once, with a node of its own
// (so the live node's state is not touched).
func (m *Machine) healthyLevel() *healthy {
	if m.healthy != nil {
		return m.healthy
	}
	const k = 2
	h := &healthy{}
	n := NewNode(m.model, m.sensor)
	for i := range k {
		r, _ := n.Reading(0, 0, time.Time{}, time.Duration(i)*time.Second)
		for a := range 3 {
			h.vel[a] += r.Values[int(vibemon.VelRMSX)+a] / k
			h.acc[a] += r.Values[int(vibemon.AccRMSX)+a] / k
			h.crest[a] += r.Values[int(vibemon.CrestX)+a] / k
			h.kurt[a] += r.Values[int(vibemon.KurtosisX)+a] / k
		}
	}
	m.healthy = h
	return h
}

// Reading returns a feature summary from the cheap feature-level model at
// simulated time t, stamped ts: for backfilling history quickly. It starts
// from the levels the machine's node measures when healthy and takes the
// temperature from the same thermal model, so a backfilled history runs
// on into the node's live readings without a step.
func (m *Machine) Reading(deviceID, seq int64, ts time.Time, t time.Duration) vibemon.Reading {
	r := vibemon.NewReading(deviceID, seq, ts)
	h := m.healthyLevel()
	s := m.severity(t)
	noise := func(scale float64) float64 { return 1 + scale*m.rng.NormFloat64() }
	// Velocity grows from the healthy level by up to ~11 mm/s (ISO zone D
	// for most machines) as the fault develops, most on the radial axes.
	grow := [3]float64{1.0, 0.8, 0.55}
	if m.Condition == Degrading {
		grow[2] += 0.6 * s // misalignment-like: axial grows
	}
	for a := 0; a < 3; a++ {
		v := math.Max(0.05, (h.vel[a]+11*s*grow[a])*noise(0.04))
		// Acceleration follows velocity at the healthy ratio, plus a
		// high-frequency part that bearing wear adds.
		acc := h.acc[a]*v/math.Max(h.vel[a], 0.05) + 0.02*s*noise(0.1)
		crest := h.crest[a] * (1 + s*noise(0.05))
		r.Values[int(vibemon.VelRMSX)+a] = v
		r.Values[int(vibemon.AccRMSX)+a] = acc
		r.Values[int(vibemon.AccPeakX)+a] = acc * crest
		r.Values[int(vibemon.CrestX)+a] = crest
		r.Values[int(vibemon.KurtosisX)+a] = math.Max(1.5, h.kurt[a]*(1+2*s*s)*noise(0.03))
	}
	// As the node reads it (a DS18B20: 1/16 °C steps).
	temp := math.Round(m.model.Temperature(t)*16) / 16
	m.battery -= 0.000002
	if m.battery < 3.3 {
		m.battery = 4.2 // someone changed the battery
	}
	r.Values[vibemon.TempC] = temp
	r.Values[vibemon.BatteryV] = m.battery
	r.Values[vibemon.RSSIdBm] = -62 + 4*m.rng.NormFloat64()
	return r
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
