package dsp

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sine(n int, fs, f, amp float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = amp * math.Sin(2*math.Pi*f*float64(i)/fs)
	}
	return x
}

func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestBearingOrdersCWRU6205(t *testing.T) {
	b, ok := LookupBearing("SKF 6205-2RS JEM")
	if !ok {
		t.Fatal("6205 not found")
	}
	got := b.Orders()
	want := FaultOrders{BPFO: 3.5848, BPFI: 5.4152, BSF: 2.3567, FTF: 0.39828}
	for _, c := range []struct {
		name      string
		got, want float64
		places    float64
	}{
		{"BPFO", got.BPFO, want.BPFO, 1e-4}, {"BPFI", got.BPFI, want.BPFI, 1e-4},
		{"BSF", got.BSF, want.BSF, 1e-4}, {"FTF", got.FTF, want.FTF, 1e-4},
	} {
		if math.Abs(c.got-c.want) > c.places/2 {
			t.Errorf("%s = %.5f, want %.5f", c.name, c.got, c.want)
		}
	}
}

func TestCatalogueIsComplete(t *testing.T) {
	for _, d := range []string{"6203", "6204", "6205", "6206", "6305", "6308", "22210"} {
		b, ok := LookupBearing(d)
		if !ok {
			t.Errorf("%s missing from the catalogue", d)
			continue
		}
		if err := b.Validate(); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		if b.Source == "" {
			t.Errorf("%s has no source", d)
		}
		o := b.Orders()
		// Kinematic identities: BPFO + BPFI = n, BPFO = n·FTF.
		if n := float64(b.Elements); !within(o.BPFO+o.BPFI, n, 1e-12) || !within(o.BPFO, n*o.FTF, 1e-12) {
			t.Errorf("%s: orders %+v break BPFO+BPFI=n or BPFO=n·FTF", d, o)
		}
	}
	if _, ok := LookupBearing("9999"); ok {
		t.Error("unknown designation found")
	}
}

func TestISOZones(t *testing.T) {
	cases := []struct {
		group    int
		flexible bool
		v        float64
		want     Zone
	}{
		{1, false, 2.2, ZoneA}, {1, false, 2.3, ZoneB}, {1, false, 4.5, ZoneC}, {1, false, 7.1, ZoneD},
		{1, true, 3.4, ZoneA}, {1, true, 7.0, ZoneB}, {1, true, 10.9, ZoneC}, {1, true, 11.0, ZoneD},
		{2, false, 1.3, ZoneA}, {2, false, 2.7, ZoneB}, {2, false, 4.4, ZoneC}, {2, false, 4.5, ZoneD},
		{2, true, 2.2, ZoneA}, {2, true, 4.4, ZoneB}, {2, true, 7.0, ZoneC}, {2, true, 7.2, ZoneD},
	}
	for _, c := range cases {
		l, err := ISOLimits(c.group, c.flexible)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Zone(c.v); got != c.want {
			t.Errorf("group %d flexible %v, %.1f mm/s: zone %s, want %s", c.group, c.flexible, c.v, got, c.want)
		}
	}
	if _, err := ISOLimits(3, false); err == nil {
		t.Error("group 3 accepted")
	}
}

func TestAlarmTripFromBaseline(t *testing.T) {
	l, _ := ISOLimits(2, false) // B/C 2.8, C/D 4.5
	cases := []struct {
		name                string
		baseline, factor    float64
		wantAlarm, wantTrip float64
	}{
		{"low baseline", 1.0, 0, 1.0 + 0.25*2.8, 4.5},
		{"alarm capped at 1.25 B/C", 3.0, 0, 1.25 * 2.8, 4.5},
		{"trip factor clamped to 1.25", 1.0, 2, 1.7, 1.25 * 4.5},
		{"no baseline", 0, 1.1, 2.8, 1.1 * 4.5},
	}
	for _, c := range cases {
		a, tr := l.AlarmTrip(c.baseline, c.factor)
		if !within(a, c.wantAlarm, 1e-12) || !within(tr, c.wantTrip, 1e-12) {
			t.Errorf("%s: alarm %.3f trip %.3f, want %.3f %.3f", c.name, a, tr, c.wantAlarm, c.wantTrip)
		}
	}
}

func TestVelocityRMSOfSine(t *testing.T) {
	for _, c := range []struct {
		fs, f, amp float64
		n          int
	}{
		{1000, 50, 0.5, 4096}, {12000, 50, 1, 16384}, {3200, 50, 0.1, 4096}, {3200, 160, 0.2, 4096},
	} {
		r, err := Analyze([][]float64{sine(c.n, c.fs, c.f, c.amp)}, c.fs, Options{RPM: 1500})
		if err != nil {
			t.Fatal(err)
		}
		want := c.amp * StandardGravity * 1000 / (2 * math.Pi * c.f) / math.Sqrt2
		if got := r.Axes[0].Features.VelRMS; !within(got, want, 0.01) {
			t.Errorf("fs %v, %v Hz sine of %v g: velocity RMS %.4f mm/s, want %.4f", c.fs, c.f, c.amp, got, want)
		}
	}
}

func TestVelocityBandClipping(t *testing.T) {
	cases := []struct {
		name        string
		fs, lowPass float64
		want        [2]float64
		covered     bool
	}{
		{"wide rate", 12000, 0, [2]float64{10, 1000}, true},
		{"1 kHz rate", 1000, 0, [2]float64{10, 450}, false},
		{"sensor low-pass", 12000, 260, [2]float64{10, 260}, false},
	}
	for _, c := range cases {
		got, cov := VelocityBand(0, 0, c.fs, c.lowPass)
		if got != c.want || cov != c.covered {
			t.Errorf("%s: band %v covered %v, want %v %v", c.name, got, cov, c.want, c.covered)
		}
	}
}

func TestTimeFeatures(t *testing.T) {
	var f Features
	TimeFeatures(&f, sine(48000, 4800, 37, 2)) // whole periods
	if !within(f.AccRMS, 2/math.Sqrt2, 1e-3) || !within(f.AccPeak, 2, 1e-3) || !within(f.Crest, math.Sqrt2, 1e-3) || !within(f.Kurtosis, 1.5, 1e-2) {
		t.Errorf("sine features %+v, want RMS 1.414, peak 2, crest 1.414, kurtosis 1.5", f)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float64, 200000)
	for i := range x {
		x[i] = 5 + rng.NormFloat64() // DC must not count
	}
	TimeFeatures(&f, x)
	if !within(f.AccRMS, 1, 0.01) || math.Abs(f.Kurtosis-3) > 0.1 {
		t.Errorf("Gaussian noise: RMS %.3f kurtosis %.3f, want 1 and 3", f.AccRMS, f.Kurtosis)
	}
}

func TestSpectrumAmplitudeAndPeaks(t *testing.T) {
	fs := 10000.0
	x := sine(32768, fs, 123.4, 0.7)
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range x {
		x[i] += 0.01 * rng.NormFloat64()
	}
	w := NewWelch(4096)
	var s Spectrum
	w.Estimate(&s, x, fs, 0.5, nil)
	floor := MedianFloor(nil, s.Amp, 64, make([]float64, 64))
	pk := FindPeaks(nil, s.Amp, floor, s.DF, PeakOptions{ShaftHz: 123.4 / 2})
	if len(pk) == 0 {
		t.Fatal("no peak found")
	}
	p := pk[0]
	if math.Abs(p.Freq-123.4) > 0.1*s.DF {
		t.Errorf("peak at %.3f Hz, want 123.4 within a tenth of a bin (%.3f Hz)", p.Freq, s.DF)
	}
	if !within(p.Amp, 0.7, 0.02) {
		t.Errorf("peak amplitude %.4f, want 0.7 within 2%%", p.Amp)
	}
	if math.Abs(p.Order-2) > 0.01 {
		t.Errorf("order %.3f, want 2", p.Order)
	}
	if p.DB < 40 {
		t.Errorf("tone only %.1f dB over the floor", p.DB)
	}
	// Parseval through the PSD: ΣPSD·df is the variance.
	var ms float64
	for _, v := range s.PSD {
		ms += v * s.DF
	}
	if !within(ms, 0.7*0.7/2+0.0001, 0.03) {
		t.Errorf("ΣPSD·df = %.5f, want %.5f", ms, 0.7*0.7/2+0.0001)
	}
}

// bearingSignal simulates an outer- or inner-race defect: impacts at the
// defect rate ring a structural resonance; for the inner race the impacts
// are amplitude-modulated once per revolution as the defect passes through
// the load zone. Plus 1× shaft vibration and broadband noise.
func bearingSignal(n int, fs, shaft, defectHz, resonance float64, innerRace bool, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n)
	period := fs / defectHz
	decay := 2 * math.Pi * resonance * 0.05 / fs // 5 % damping
	for t0 := rng.Float64() * period; t0 < float64(n); t0 += period * (1 + 0.01*rng.NormFloat64()) {
		a := 1.0
		if innerRace {
			a = 0.6 + 0.4*math.Cos(2*math.Pi*shaft*t0/fs)
		}
		start := int(t0)
		for i := start; i < min(n, start+int(8/decay)); i++ {
			dt := float64(i) - t0
			x[i] += a * math.Exp(-decay*dt) * math.Sin(2*math.Pi*resonance*dt/fs)
		}
	}
	for i := range x {
		x[i] = 0.3*x[i] + 0.01*math.Sin(2*math.Pi*shaft*float64(i)/fs) + 0.08*rng.NormFloat64()
	}
	return x
}

func TestAnalyzeFindsSimulatedBearingFaults(t *testing.T) {
	b, _ := LookupBearing("6206")
	const fs, rpm = 25600.0, 1480.0
	shaft := rpm / 60
	o := b.Orders().Hz(shaft)
	cases := []struct {
		name string
		x    []float64
		want string
	}{
		{"outer race", bearingSignal(16384, fs, shaft, o.BPFO, 5200, false, 1), FaultOuterRace},
		{"inner race", bearingSignal(16384, fs, shaft, o.BPFI, 5200, true, 2), FaultInnerRace},
		{"healthy", bearingSignal(16384, fs, shaft, 1e-9, 5200, false, 3), FaultNormal},
	}
	for _, c := range cases {
		r, err := Analyze([][]float64{c.x}, fs, Options{RPM: rpm, Bearing: b})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Top(); got.Fault != c.want {
			t.Errorf("%s: top finding %s (%.2f: %s), want %s", c.name, got.Fault, got.Confidence, got.Summary(), c.want)
		}
		if c.want != FaultNormal {
			band := r.Axes[0].Envelope.Band
			if band.Lo > 5200 || band.Hi < 5200 {
				t.Errorf("%s: spectral kurtosis chose %v, want the band holding the 5200 Hz resonance", c.name, band)
			}
		}
	}
}

func TestAnalyzeDiagnosesImbalanceAndEstimatesRPM(t *testing.T) {
	const fs, n = 5000.0, 8192
	shaft := 24.7
	rng := rand.New(rand.NewPCG(11, 12))
	mk := func(h1, h2 float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			tt := float64(i) / fs
			x[i] = h1*math.Sin(2*math.Pi*shaft*tt) + h2*math.Sin(2*math.Pi*2*shaft*tt+0.3) +
				0.02*math.Sin(2*math.Pi*3*shaft*tt) + 0.015*math.Sin(2*math.Pi*4*shaft*tt) + 0.005*rng.NormFloat64()
		}
		return x
	}
	// 0.2 g at 24.7 Hz is about 9 mm/s RMS: zone D for group 2.
	for _, c := range []struct {
		name   string
		h1, h2 float64
		want   string
	}{
		{"imbalance", 0.2, 0.02, FaultImbalance},
		{"misalignment", 0.1, 0.15, FaultMisalignment},
	} {
		r, err := Analyze([][]float64{mk(c.h1, c.h2), mk(c.h1*0.8, c.h2*0.8)}, fs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.RPMEstimated || !within(r.RPM, shaft*60, 0.01) {
			t.Errorf("%s: RPM %.1f (estimated %v), want %.1f within 1%%", c.name, r.RPM, r.RPMEstimated, shaft*60)
		}
		if r.RPMConfidence < 0.5 {
			t.Errorf("%s: RPM confidence %.2f, want >= 0.5 with 4 clear harmonics", c.name, r.RPMConfidence)
		}
		if got := r.Top(); got.Fault != c.want {
			t.Errorf("%s: top %s (%.2f), want %s; findings %+v", c.name, got.Fault, got.Confidence, c.want, r.Findings)
		}
		if r.Zone != ZoneD && c.name == "imbalance" {
			t.Errorf("imbalance: zone %s at %.1f mm/s, want D", r.Zone, r.VelRMS)
		}
	}
}

// A 1x-dominant machine in zone B is imbalance by the spectrum's shape,
// but when it runs at its own normal level (below its alarm level, ISO
// 10816-3's baseline + 25 % of B/C) it is residual imbalance, not a
// fault: the shaft rules wait for the alarm level.
func TestShaftRulesWaitForTheAlarmLevel(t *testing.T) {
	const fs, n, shaft = 5000.0, 8192, 24.7
	rng := rand.New(rand.NewPCG(21, 22))
	mk := func(g float64) [][]float64 { // g: 1x acceleration amplitude
		var out [][]float64
		for _, k := range []float64{1, 0.8} {
			x := make([]float64, n)
			for i := range x {
				tt := float64(i) / fs
				x[i] = k * (g*math.Sin(2*math.Pi*shaft*tt) + 0.1*g*math.Sin(2*math.Pi*2*shaft*tt+0.3) + 0.002*rng.NormFloat64())
			}
			out = append(out, x)
		}
		return out
	}
	const normal = 1.9 // a machine whose normal is 1.9 mm/s: alarm 2.6
	limits, _ := ISOLimits(2, false)
	alarm, _ := limits.AlarmTrip(normal, 0)
	imbalance := func(r *Result) bool {
		for _, f := range r.Findings {
			if f.Fault == FaultImbalance && f.Detected {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		name     string
		g        float64 // about 2 mm/s RMS per 0.045 g
		baseline float64
		want     bool
	}{
		{"zone B, normal unknown", 0.045, 0, true},
		{"zone B, at its normal", 0.045, normal, false},
		{"zone C, above its alarm", 0.09, normal, true},
	} {
		r, err := Analyze(mk(c.g), fs, Options{RPM: shaft * 60, Baseline: c.baseline})
		if err != nil {
			t.Fatal(err)
		}
		if r.Zone == ZoneA {
			t.Fatalf("%s: %.2f mm/s is zone A; the case needs zone B or worse", c.name, r.VelRMS)
		}
		wantFrom := limits.AB
		if c.baseline > 0 {
			wantFrom = alarm
		}
		if r.ShaftRulesFrom != wantFrom {
			t.Errorf("%s: ShaftRulesFrom %.2f mm/s, want %.2f", c.name, r.ShaftRulesFrom, wantFrom)
		}
		if got := imbalance(r); got != c.want {
			t.Errorf("%s (%.2f mm/s, shaft rules from %.2f): imbalance detected %v, want %v; findings %+v", c.name, r.VelRMS, r.ShaftRulesFrom, got, c.want, r.Findings)
		}
	}
}

func TestAnalyzeRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		signals [][]float64
		fs      float64
		o       Options
	}{
		{"no axes", nil, 1000, Options{}},
		{"short", [][]float64{make([]float64, 100)}, 1000, Options{}},
		{"zero rate", [][]float64{make([]float64, 4096)}, 0, Options{}},
		{"bad group", [][]float64{make([]float64, 4096)}, 1000, Options{ISOGroup: 3}},
		{"bad bearing", [][]float64{make([]float64, 4096)}, 1000, Options{Bearing: Bearing{Elements: 9, BallDiameter: 5, PitchDiam: 4}}},
	}
	for _, c := range cases {
		if _, err := Analyze(c.signals, c.fs, c.o); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func burst(seed uint64) [][]float64 {
	b, _ := LookupBearing("6205")
	o := b.Orders().Hz(29.95)
	return [][]float64{
		bearingSignal(4096, 12000, 29.95, o.BPFI, 3500, true, seed),
		bearingSignal(4096, 12000, 29.95, o.BPFI, 3500, true, seed+1),
		bearingSignal(4096, 12000, 29.95, o.BPFI, 3500, true, seed+2),
	}
}

func TestAnalyzerReusesBuffers(t *testing.T) {
	b, _ := LookupBearing("6205")
	sig := burst(1)
	an := NewAnalyzer()
	var r Result
	o := Options{RPM: 1797, Bearing: b}
	if err := an.Analyze(&r, sig, 12000, o); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() { _ = an.Analyze(&r, sig, 12000, o) })
	// Findings, their evidence and every spectrum live in buffers of the
	// Analyzer and the Result; summaries are built only when asked for.
	if allocs != 0 {
		t.Errorf("Analyze allocates %v times per burst with a warm Analyzer and Result, want 0", allocs)
	}
}

func BenchmarkAnalyze3x4096(b *testing.B) {
	for _, fs := range []float64{12000, 12800, 25600} {
		b.Run(fmt.Sprintf("fs=%v", fs), func(b *testing.B) {
			br, _ := LookupBearing("6205")
			sig := burstAt(fs, 1)
			an := NewAnalyzer()
			var r Result
			o := Options{RPM: 1797, Bearing: br}
			// Thread CPU time: on a shared machine wall time counts
			// other processes' work. The goroutine stays on its thread
			// so the thread's time is the loop's.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu0 := threadCPU()
			for b.Loop() {
				if err := an.Analyze(&r, sig, fs, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/(threadCPU()-cpu0).Seconds(), "bursts/cpu-s")
		})
	}
}

// burstAt is burst sampled at fs: 3 axes of 4096 samples with an
// inner-race fault ringing a 3.5 kHz resonance on a 1797 rpm 6205.
func burstAt(fs float64, seed uint64) [][]float64 {
	b, _ := LookupBearing("6205")
	o := b.Orders().Hz(29.95)
	return [][]float64{
		bearingSignal(4096, fs, 29.95, o.BPFI, 3500, true, seed),
		bearingSignal(4096, fs, 29.95, o.BPFI, 3500, true, seed+1),
		bearingSignal(4096, fs, 29.95, o.BPFI, 3500, true, seed+2),
	}
}

// threadCPU is the CPU time (user + system) the calling OS thread has
// used (RUSAGE_THREAD, Linux).
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestMedianMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for trial := range 2 * 160 {
		n := 1 + trial/2
		x := make([]float64, n)
		for i := range x {
			if trial%2 == 0 {
				x[i] = float64(rng.IntN(10)) // many ties
			} else {
				x[i] = rng.ExpFloat64() // a periodogram's distribution
			}
		}
		s := append([]float64(nil), x...)
		slices.Sort(s)
		want := s[n/2]
		if n%2 == 0 {
			want = (s[n/2-1] + s[n/2]) / 2
		}
		if got := median(x); got != want {
			t.Errorf("n=%d: median %v, want %v", n, got, want)
		}
	}
}

func TestFindingSummaryInJSON(t *testing.T) {
	b, _ := LookupBearing("6205")
	r, err := Analyze(burst(1), 12000, Options{RPM: 1797, Bearing: b})
	if err != nil {
		t.Fatal(err)
	}
	top := r.Top()
	if top.Fault != FaultInnerRace {
		t.Fatalf("top finding %s, want %s", top.Fault, FaultInnerRace)
	}
	if got := top.Summary(); !strings.HasPrefix(got, "BPFI at ") {
		t.Errorf("summary %q, want it to start with the BPFI line", got)
	}
	js, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Fault    string     `json:"fault"`
		Summary  string     `json:"summary"`
		Evidence []Evidence `json:"evidence"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Fault != top.Fault || back.Summary != top.Summary() || len(back.Evidence) != len(top.Evidence) {
		t.Errorf("JSON %s: got fault %q summary %q, want %q %q", js, back.Fault, back.Summary, top.Fault, top.Summary())
	}
	if got, want := (Finding{Fault: FaultNormal}).Summary(), "no fault rule fired"; got != want {
		t.Errorf("normal summary %q, want %q", got, want)
	}
}

// The kurtogram builds the envelopes of its wider bands from those of the
// narrower ones; the spectral kurtosis of every band must be what a direct
// transform of the band gives.
func TestKurtogramMatchesDirectTransforms(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	segs := make([][]complex128, 3)
	for i := range segs {
		segs[i] = make([]complex128, 2049)
		for k := range segs[i] {
			segs[i][k] = complex(rng.NormFloat64(), rng.NormFloat64()) * complex(1+float64(k%97)/10, 0)
		}
	}
	var e envelopeEngine
	best, ok := e.kurtogram(segs, 128, 100, 1843)
	if !ok {
		t.Fatal("no band")
	}
	bestSK := math.Inf(-1)
	var want bandCand
	for i, c := range e.cands {
		var s2, s4 float64
		for _, X := range segs {
			z := NewFFT(c.w).Complex(make([]complex128, c.w), X[c.k0:c.k0+c.w])
			for _, v := range z {
				m := real(v)*real(v) + imag(v)*imag(v)
				s2 += m
				s4 += m * m
			}
		}
		sk := float64(c.w*len(segs))*s4/(s2*s2) - 2
		got := float64(c.count)*c.s4/(c.s2*c.s2) - 2
		if c.k0 == best.k0 && c.w == best.w {
			got = best.s2 // the winner's s2 carries its SK
		}
		if math.Abs(got-sk) > 1e-9*math.Abs(sk) {
			t.Errorf("band %d [%d, %d): SK %v, direct transform %v", i, c.k0, c.k0+c.w, got, sk)
		}
		if sk > bestSK {
			bestSK, want = sk, c
		}
	}
	if best.k0 != want.k0 || best.w != want.w {
		t.Errorf("best band [%d, +%d), want [%d, +%d)", best.k0, best.w, want.k0, want.w)
	}
	if len(e.cands) < 30 {
		t.Errorf("%d candidate bands, want the three levels (>= 30)", len(e.cands))
	}
}
