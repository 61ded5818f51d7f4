package sim

import (
	"math"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

// Node is a simulated sensor node on a machine: every Reading measures a
// short burst through its Sensor and reduces it to the node's feature
// summary with package dsp's feature functions, so simulated nodes and the
// server compute features the same way. A Node keeps its buffers between
// bursts and is not safe for concurrent use; use one per machine.
type Node struct {
	Model  *SignalModel
	Sensor Sensor
	// Window is the burst length; 0 means 1 s.
	Window time.Duration

	buf   measureBuffers
	burst [3][]float64
	welch *dsp.Welch
	spec  dsp.Spectrum
	truth GroundTruth
}

// NewNode returns a node measuring m with s, 1 s bursts.
func NewNode(m *SignalModel, s Sensor) *Node {
	return &Node{Model: m, Sensor: s}
}

// Burst returns the samples of the last burst (g, one slice per axis) and
// its ground truth; the slices are reused by the next Reading.
func (n *Node) Burst() ([3][]float64, GroundTruth) { return n.burst, n.truth }

// Reading measures a burst at simulated time t and returns the feature
// summary the node would send, stamped ts, with its ground truth. It fills
// acceleration RMS and peak, velocity RMS (over 10–1000 Hz clipped to what
// the sensor passes), crest factor and kurtosis per axis and the housing
// temperature as a DS18B20 reads it (1/16 °C steps); battery and radio
// strength are the fleet's business and stay unset.
func (n *Node) Reading(deviceID, seq int64, ts time.Time, t time.Duration) (vibemon.Reading, GroundTruth) {
	win := n.Window
	if win <= 0 {
		win = time.Second
	}
	samples := max(256, int(math.Round(win.Seconds()*n.Sensor.Rate)))
	for a := range n.burst {
		n.burst[a] = grow(n.burst[a], samples)
	}
	n.truth = n.Sensor.measure(n.burst, n.Model, t, &n.buf)

	// The segment the server's Analyze would use for this burst: the
	// largest power of two up to 4096 that fits.
	seg := 4096
	for seg > samples {
		seg /= 2
	}
	if n.welch == nil || n.spec.N != seg {
		n.welch = dsp.NewWelch(seg)
	}
	band, _ := dsp.VelocityBand(0, 0, n.Sensor.Rate, n.Sensor.LowPassHz)

	r := vibemon.NewReading(deviceID, seq, ts)
	for a := range 3 {
		var f dsp.Features
		dsp.TimeFeatures(&f, n.burst[a])
		n.welch.Estimate(&n.spec, n.burst[a], n.Sensor.Rate, 0.5, nil)
		f.VelRMS = dsp.VelocityRMS(&n.spec, band)
		r.Values[int(vibemon.AccRMSX)+a] = f.AccRMS
		r.Values[int(vibemon.AccPeakX)+a] = f.AccPeak
		r.Values[int(vibemon.VelRMSX)+a] = f.VelRMS
		r.Values[int(vibemon.CrestX)+a] = f.Crest
		r.Values[int(vibemon.KurtosisX)+a] = f.Kurtosis
	}
	r.Values[vibemon.TempC] = math.Round(n.truth.TempC*16) / 16
	return r, n.truth
}
