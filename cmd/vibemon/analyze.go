package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/recording"
)

const analyzeSummary = `Offline analysis of vibration recordings: features per axis, ISO 10816-3
zone, spectrum peaks, bearing fault frequencies and a diagnosis with evidence.

Inputs (one column or channel per axis, at most 3 axes, acceleration):
  .csv .tsv .txt  text; comma, semicolon or tab separated; an optional header
                  row naming the columns; a column named t or time (s; or
                  time_ms, t_us) gives the sample rate, otherwise give --rate
  .wav            PCM 16/24/32-bit or float 32-bit; the header's rate is used
                  unless --rate is given; integer samples are fractions of
                  full scale times --scale
  .f32            raw little-endian float32, --channels interleaved; --rate
                  is required

Output: --format text (for people), json (one array with an object per
file) or ndjson (one object per line, written as each file finishes). A file
that cannot be analysed is reported on stderr (in json/ndjson also as
{"file": ..., "error": ...}) and makes the exit status non-zero.

Example:
  vibemon analyze --rate 12000 --rpm 1797 --bearing 6205 --group 2 motor-de.f32`

// minSamples is the shortest record dsp.Analyze accepts (dsp.ErrTooShort).
const minSamples = 256

// progressAfter is how long a file may take before progress is shown;
// progressEvery is how often it is then updated when stderr is not a
// terminal (a terminal gets a redrawn line five times a second).
var progressAfter, progressEvery = time.Second, time.Second

// analyzeConfig is the validated command line of vibemon analyze.
type analyzeConfig struct {
	files    []string
	read     recording.Options
	dsp      dsp.Options
	group    int // 0: not given, no ISO zone reported
	flexible bool
	bearing  *dsp.Bearing
	format   string
	progress bool
}

func runAnalyze(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseAnalyzeFlags(args, stdout)
	if err != nil {
		return err
	}
	showProgress := cfg.progress || isTerminal(stderr)
	var (
		results []any
		failed  []error
	)
	for _, path := range cfg.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		meter := startProgress(stderr, showProgress, path)
		rep, err := analyzeFile(ctx, path, cfg, meter)
		meter.stop()
		if err != nil {
			failed = append(failed, err)
			if cfg.format != "text" {
				results = append(results, errorEntry(path, err))
			}
			if cfg.format == "ndjson" {
				writeNDJSON(stdout, errorEntry(path, err))
			}
			continue
		}
		switch cfg.format {
		case "text":
			if len(results) > 0 {
				fmt.Fprintln(stdout)
			}
			writeAnalysisText(stdout, rep)
		case "ndjson":
			writeNDJSON(stdout, rep)
		}
		results = append(results, rep)
	}
	if cfg.format == "json" {
		if results == nil {
			results = []any{}
		}
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return fmt.Errorf("analyze: encode json: %w", err)
		}
		stdout.Write(append(b, '\n'))
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	for _, err := range failed {
		fmt.Fprintln(stderr, "vibemon:", err)
	}
	return fmt.Errorf("analyze: %d of %d files failed", len(failed), len(cfg.files))
}

func writeNDJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fileError{Error: "encode json: " + err.Error()})
	}
	w.Write(append(b, '\n'))
}

// parseAnalyzeFlags parses flags and file names in any order and checks
// every flag before any file is read.
func parseAnalyzeFlags(args []string, stdout io.Writer) (*analyzeConfig, error) {
	fs := newFlagSet("analyze", analyzeSummary, stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: vibemon analyze [flags] FILE...\n\n%s\n\nFlags:\n", analyzeSummary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	rate := fs.Float64("rate", 0, "sample rate in Hz (required for f32 and for CSV without a time column; overrides a WAV header)")
	rpm := fs.Float64("rpm", 0, "shaft speed in rev/min; estimated from the spectrum when absent")
	bearing := fs.String("bearing", "", "bearing designation from the catalogue, e.g. 6205 or \"SKF 6205-2RS\" (known: "+strings.Join(designations(), ", ")+")")
	geometry := fs.String("bearing-geometry", "", "explicit bearing geometry `n,d,D,angle`: rolling elements, ball diameter, pitch diameter (same unit as d), contact angle in degrees")
	group := fs.Int("group", 0, "ISO 10816-3 machine group: 1 (300 kW-50 MW) or 2 (15-300 kW); the zone is graded only when given")
	foundation := fs.String("foundation", "rigid", "ISO 10816-3 foundation: rigid or flexible")
	baseline := fs.Float64("baseline", 0, "the machine's normal velocity, mm/s RMS: imbalance, misalignment and looseness are then called only from its alarm level (baseline + 25 % of the B/C boundary), not from the zone A/B boundary")
	units := fs.String("units", "g", "units of the samples: g or m/s2")
	scale := fs.Float64("scale", 1, "multiply every sample by this (for integer WAV: units per full scale)")
	inputFormat := fs.String("input-format", "", "input format csv, wav or f32 (default: from the file extension)")
	channels := fs.Int("channels", 1, "interleaved channels (axes) in f32 input, 1 to 3")
	axial := fs.Int("axial", 0, "1-based axis that is axial to the shaft (helps to tell misalignment); 0: all radial")
	format := fs.String("format", "text", "output format: text, json or ndjson")
	progress := fs.Bool("progress", false, "show progress on stderr for files taking over a second (default: only when stderr is a terminal)")

	var files []string
	rest := args
	for {
		fs.SetOutput(io.Discard)
		err := fs.Parse(rest)
		if errors.Is(err, flag.ErrHelp) {
			return nil, err // Parse has printed fs.Usage
		}
		if err != nil {
			return nil, fmt.Errorf("analyze: %v (see: vibemon analyze --help)", err)
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		// A "--" ends the flags: everything after it is a file.
		if i := len(rest) - len(left) - 1; i >= 0 && rest[i] == "--" {
			files = append(files, left...)
			break
		}
		files = append(files, left[0])
		rest = left[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := &analyzeConfig{files: files, format: *format, progress: *progress}
	switch *format {
	case "text", "json", "ndjson":
	default:
		return nil, fmt.Errorf("analyze: --format %q: want text, json or ndjson", *format)
	}
	if set["rate"] && (!(*rate > 0) || math.IsInf(*rate, 0)) {
		return nil, fmt.Errorf("analyze: --rate %v: want a positive sample rate in Hz", *rate)
	}
	if set["rpm"] && (!(*rpm > 0) || *rpm > 1e6) {
		return nil, fmt.Errorf("analyze: --rpm %v: want a positive shaft speed in rev/min (omit it to estimate)", *rpm)
	}
	if set["group"] && *group != 1 && *group != 2 {
		return nil, fmt.Errorf("analyze: --group %d: want 1 (300 kW-50 MW) or 2 (15-300 kW)", *group)
	}
	switch *foundation {
	case "rigid":
	case "flexible":
		cfg.flexible = true
	default:
		return nil, fmt.Errorf("analyze: --foundation %q: want rigid or flexible", *foundation)
	}
	u, err := recording.ParseUnits(*units)
	if err != nil {
		return nil, fmt.Errorf("analyze: --units %q: want g or m/s2", *units)
	}
	if !(*scale > 0) || math.IsInf(*scale, 0) {
		return nil, fmt.Errorf("analyze: --scale %v: want a positive factor", *scale)
	}
	var inFormat recording.Format
	if *inputFormat != "" {
		if inFormat, err = recording.ParseFormat(*inputFormat); err != nil {
			return nil, fmt.Errorf("analyze: --input-format %q: want csv, wav or f32", *inputFormat)
		}
	}
	if *channels < 1 || *channels > recording.MaxAxes {
		return nil, fmt.Errorf("analyze: --channels %d: want 1 to %d (one channel per axis)", *channels, recording.MaxAxes)
	}
	if *axial < 0 || *axial > recording.MaxAxes {
		return nil, fmt.Errorf("analyze: --axial %d: want an axis number 1 to %d, or 0", *axial, recording.MaxAxes)
	}
	switch {
	case *bearing != "" && *geometry != "":
		return nil, errors.New("analyze: give --bearing or --bearing-geometry, not both")
	case *bearing != "":
		b, ok := dsp.LookupBearing(*bearing)
		if !ok {
			return nil, fmt.Errorf("analyze: --bearing %q is not in the catalogue (known: %s); give --bearing-geometry n,d,D,angle instead",
				*bearing, strings.Join(designations(), ", "))
		}
		cfg.bearing = &b
	case *geometry != "":
		b, err := parseGeometry(*geometry)
		if err != nil {
			return nil, fmt.Errorf("analyze: --bearing-geometry %q: %v", *geometry, err)
		}
		cfg.bearing = &b
	}
	if len(files) == 0 {
		return nil, errors.New("analyze: no file given (usage: vibemon analyze [flags] FILE...; see --help)")
	}
	cfg.group = *group
	cfg.read = recording.Options{Format: inFormat, Rate: *rate, Channels: *channels, Units: u, Scale: *scale}
	cfg.dsp = dsp.Options{RPM: *rpm, ISOGroup: *group, Flexible: cfg.flexible, AxialAxis: *axial}
	if set["baseline"] {
		if !(*baseline > 0) || *baseline > 1000 {
			return nil, fmt.Errorf("analyze: --baseline %v: want the machine's normal velocity in mm/s RMS, above 0", *baseline)
		}
		cfg.dsp.Baseline = *baseline
	}
	if cfg.bearing != nil {
		cfg.dsp.Bearing = *cfg.bearing
	}
	return cfg, nil
}

// parseGeometry parses "n,d,D,angle".
func parseGeometry(s string) (dsp.Bearing, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return dsp.Bearing{}, fmt.Errorf("want 4 numbers n,d,D,angle (rolling elements, ball diameter, pitch diameter, contact angle in degrees), got %d", len(parts))
	}
	var v [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return dsp.Bearing{}, fmt.Errorf("%s %q is not a number", [4]string{"n", "d", "D", "angle"}[i], strings.TrimSpace(p))
		}
		v[i] = x
	}
	if v[0] != math.Trunc(v[0]) {
		return dsp.Bearing{}, fmt.Errorf("n %v is not a whole number of rolling elements", v[0])
	}
	b := dsp.Bearing{Designation: "custom", Elements: int(v[0]), BallDiameter: v[1], PitchDiam: v[2], ContactAngle: v[3], Source: "--bearing-geometry"}
	if err := b.Validate(); err != nil {
		return dsp.Bearing{}, errors.New(strings.TrimPrefix(err.Error(), "bearing: "))
	}
	return b, nil
}

func designations() []string {
	d := dsp.BearingDesignations()
	slices.Sort(d)
	return d
}

// analyzeError is a file that could not be analysed: one line naming it.
type analyzeError struct{ file, msg string }

func (e *analyzeError) Error() string { return fmt.Sprintf("analyze %s: %s", e.file, e.msg) }

// errorEntry is the JSON entry of a failed file.
func errorEntry(path string, err error) fileError {
	var ae *analyzeError
	if errors.As(err, &ae) {
		return fileError{File: path, Error: ae.msg}
	}
	return fileError{File: path, Error: err.Error()}
}

// fileError is the JSON entry of a file that could not be analysed.
type fileError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// analyzeFile reads and analyses one file; errors name the file.
func analyzeFile(ctx context.Context, path string, cfg *analyzeConfig, meter *progressMeter) (*analysisReport, error) {
	fail := func(err error) error {
		msg := err.Error()
		if code := vibemon.ErrorCode(err); code != vibemon.EINTERNAL {
			msg = vibemon.ErrorMessage(err)
		}
		return &analyzeError{file: path, msg: msg}
	}
	ro := cfg.read
	ro.Progress = meter.reading
	rec, err := recording.ReadFile(ctx, path, ro)
	if err != nil {
		return nil, fail(err)
	}
	if err := rec.NeedSamples(minSamples); err != nil {
		return nil, fail(err)
	}
	if rpm := cfg.dsp.RPM; rpm > 0 && rpm/60 >= 0.45*rec.Rate {
		return nil, fail(fmt.Errorf("--rpm %g (%.4g Hz) is above what %g Hz sampling can show (%.4g Hz)", rpm, rpm/60, rec.Rate, 0.45*rec.Rate))
	}
	if cfg.dsp.AxialAxis > len(rec.Samples) {
		return nil, fail(fmt.Errorf("--axial %d, but the file has %d axes", cfg.dsp.AxialAxis, len(rec.Samples)))
	}
	meter.analysing()
	res, err := dsp.Analyze(rec.Samples, rec.Rate, cfg.dsp)
	if err != nil {
		return nil, fail(err)
	}
	return buildReport(path, rec, res, cfg), nil
}

// analysisReport is the result for one file, as written in JSON.
type analysisReport struct {
	File             string          `json:"file"`
	Format           string          `json:"format"`
	SampleRateHz     float64         `json:"sample_rate_hz"`
	SampleRateSource string          `json:"sample_rate_source"` // flag, wav header, time column
	Samples          int             `json:"samples"`            // per axis
	DurationS        float64         `json:"duration_s"`
	Units            string          `json:"units"` // of the file, before conversion to g
	Axes             []axisReport    `json:"axes"`
	VelRMS           float64         `json:"vel_rms_mm_s"` // highest axis
	ISO              *isoReport      `json:"iso,omitempty"`
	RPM              *float64        `json:"rpm"` // null when it could not be estimated
	RPMSource        string          `json:"rpm_source"`
	RPMConfidence    float64         `json:"rpm_confidence"`
	ShaftHz          *float64        `json:"shaft_hz"`
	Bearing          *bearingReport  `json:"bearing,omitempty"`
	Diagnosis        []findingReport `json:"diagnosis"`
	Notes            []string        `json:"notes"`
}

type axisReport struct {
	Name           string         `json:"name"`
	AccRMS         float64        `json:"acc_rms_g"`
	AccPeak        float64        `json:"acc_peak_g"`
	Crest          float64        `json:"crest"`
	Kurtosis       float64        `json:"kurtosis"`
	VelRMS         float64        `json:"vel_rms_mm_s"`
	VelBand        [2]float64     `json:"vel_band_hz"`
	ISOBandCovered bool           `json:"iso_band_covered"`
	ISOZone        string         `json:"iso_zone,omitempty"`
	Peaks          []peakReport   `json:"peaks"`
	Envelope       envelopeReport `json:"envelope"`
}

// peakReport is a line of the acceleration spectrum.
type peakReport struct {
	FreqHz float64  `json:"freq_hz"`
	AmpG   float64  `json:"amp_g"` // peak amplitude
	DB     float64  `json:"db_over_floor"`
	Order  *float64 `json:"order"` // multiple of shaft speed; null when unknown
}

type envelopeReport struct {
	BandHz     [2]float64           `json:"band_hz"`
	ChosenBySK bool                 `json:"chosen_by_sk"`
	Peaks      []envelopePeakReport `json:"peaks"`
}

// envelopePeakReport is a line of the squared-envelope spectrum.
type envelopePeakReport struct {
	FreqHz float64  `json:"freq_hz"`
	AmpG2  float64  `json:"amp_g2"`
	DB     float64  `json:"db_over_floor"`
	Order  *float64 `json:"order"`
}

type isoReport struct {
	Standard    string  `json:"standard"`
	Group       int     `json:"group"`
	Foundation  string  `json:"foundation"`
	Zone        string  `json:"zone"`
	Meaning     string  `json:"meaning"`
	VelRMS      float64 `json:"vel_rms_mm_s"`
	LimitAB     float64 `json:"limit_ab_mm_s"`
	LimitBC     float64 `json:"limit_bc_mm_s"`
	LimitCD     float64 `json:"limit_cd_mm_s"`
	BandCovered bool    `json:"band_covered"`
}

type bearingReport struct {
	Designation   string          `json:"designation"`
	Source        string          `json:"source,omitempty"`
	Estimated     bool            `json:"geometry_estimated"`
	Elements      int             `json:"elements"`
	BallDiameter  float64         `json:"ball_diameter"`
	PitchDiameter float64         `json:"pitch_diameter"`
	ContactAngle  float64         `json:"contact_angle_deg"`
	Orders        dsp.FaultOrders `json:"orders"`
	BPFO          *float64        `json:"bpfo_hz"`
	BPFI          *float64        `json:"bpfi_hz"`
	BSF           *float64        `json:"bsf_hz"`
	FTF           *float64        `json:"ftf_hz"`
}

type findingReport struct {
	Fault      string           `json:"fault"`
	Confidence float64          `json:"confidence"`
	Detected   bool             `json:"detected"`
	Axis       string           `json:"axis,omitempty"`
	Summary    string           `json:"summary"`
	Evidence   []evidenceReport `json:"evidence"`
}

type evidenceReport struct {
	What       string  `json:"what"`
	Spectrum   string  `json:"spectrum"` // envelope or velocity
	ExpectedHz float64 `json:"expected_hz"`
	FreqHz     float64 `json:"freq_hz"`
	Order      float64 `json:"order"`
	DB         float64 `json:"db_over_floor"`
	Present    bool    `json:"present"`
	Ambiguous  bool    `json:"ambiguous,omitempty"`
}

var zoneMeaning = map[dsp.Zone]string{
	dsp.ZoneA: "newly commissioned condition",
	dsp.ZoneB: "acceptable for unrestricted long-term operation",
	dsp.ZoneC: "unsatisfactory: restricted operation only, plan a repair",
	dsp.ZoneD: "severe enough to cause damage: act now",
}

var formatNames = map[recording.Format]string{recording.CSV: "CSV", recording.WAV: "WAV", recording.F32: "raw float32"}

func buildReport(path string, rec *recording.Recording, res *dsp.Result, cfg *analyzeConfig) *analysisReport {
	rep := &analysisReport{
		File: path, Format: string(rec.Format),
		SampleRateHz: finite(rec.Rate), SampleRateSource: rec.RateSource,
		Samples: rec.Len(), DurationS: finite(rec.Duration()), Units: string(rec.Units),
		VelRMS: finite(res.VelRMS), RPMConfidence: finite(res.RPMConfidence),
		RPMSource: "given", Notes: []string{},
	}
	shaft := res.RPM / 60
	if res.RPMEstimated {
		rep.RPMSource = "estimated"
	}
	if shaft > 0 {
		rep.RPM, rep.ShaftHz = ptr(res.RPM), ptr(shaft)
	} else {
		rep.Notes = append(rep.Notes, "shaft speed could not be estimated (no harmonic series between 5 and 120 Hz); give --rpm for order and fault-frequency analysis")
	}
	if res.RPMEstimated && shaft > 0 && res.RPMConfidence < 0.5 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("shaft speed estimated with low confidence (%.2f); give --rpm if it is known", res.RPMConfidence))
	}
	order := func(o float64) *float64 {
		if shaft <= 0 {
			return nil
		}
		return ptr(o)
	}
	var limits dsp.ZoneLimits
	if cfg.group != 0 {
		limits, _ = dsp.ISOLimits(cfg.group, cfg.flexible)
	}
	for i, ax := range res.Axes {
		f := ax.Features
		a := axisReport{
			Name: rec.Axes[i], AccRMS: finite(f.AccRMS), AccPeak: finite(f.AccPeak), Crest: finite(f.Crest),
			Kurtosis: finite(f.Kurtosis), VelRMS: finite(f.VelRMS), VelBand: f.VelBand, ISOBandCovered: f.ISOBandCovered,
			Peaks: []peakReport{}, Envelope: envelopeReport{BandHz: [2]float64{ax.Envelope.Band.Lo, ax.Envelope.Band.Hi},
				ChosenBySK: ax.Envelope.Chosen, Peaks: []envelopePeakReport{}},
		}
		if cfg.group != 0 {
			a.ISOZone = string(limits.Zone(f.VelRMS))
		}
		for _, p := range ax.Peaks {
			a.Peaks = append(a.Peaks, peakReport{FreqHz: finite(p.Freq), AmpG: finite(p.Amp), DB: finite(p.DB), Order: order(p.Order)})
		}
		for _, p := range ax.Envelope.Peaks {
			a.Envelope.Peaks = append(a.Envelope.Peaks, envelopePeakReport{FreqHz: finite(p.Freq), AmpG2: finite(p.Amp), DB: finite(p.DB), Order: order(p.Order)})
		}
		if f.AccRMS == 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("axis %s is flat (every sample equal): a disconnected or saturated sensor?", a.Name))
		}
		rep.Axes = append(rep.Axes, a)
	}
	if len(res.Axes) > 0 && !res.Axes[0].Features.ISOBandCovered {
		b := res.Axes[0].Features.VelBand
		rep.Notes = append(rep.Notes, fmt.Sprintf("velocity RMS covers %.0f-%.0f Hz only (the sample rate is too low for the ISO band 10-1000 Hz), so the ISO zone is indicative", b[0], b[1]))
	}
	if cfg.group != 0 {
		z := limits.Zone(res.VelRMS)
		found := "rigid"
		if cfg.flexible {
			found = "flexible"
		}
		rep.ISO = &isoReport{Standard: "ISO 10816-3", Group: cfg.group, Foundation: found, Zone: string(z), Meaning: zoneMeaning[z],
			VelRMS: finite(res.VelRMS), LimitAB: limits.AB, LimitBC: limits.BC, LimitCD: limits.CD,
			BandCovered: len(res.Axes) > 0 && res.Axes[0].Features.ISOBandCovered}
	}
	if b := cfg.bearing; b != nil {
		br := &bearingReport{Designation: b.Designation, Source: b.Source, Estimated: b.Estimated, Elements: b.Elements,
			BallDiameter: b.BallDiameter, PitchDiameter: b.PitchDiam, ContactAngle: b.ContactAngle,
			Orders: dsp.FaultOrders{BPFO: finite(res.Orders.BPFO), BPFI: finite(res.Orders.BPFI), BSF: finite(res.Orders.BSF), FTF: finite(res.Orders.FTF)}}
		if shaft > 0 {
			br.BPFO, br.BPFI, br.BSF, br.FTF = ptr(res.FaultHz.BPFO), ptr(res.FaultHz.BPFI), ptr(res.FaultHz.BSF), ptr(res.FaultHz.FTF)
		}
		if res.RPMEstimated && shaft > 0 {
			rep.Notes = append(rep.Notes, "bearing fault frequencies scale with the shaft speed, which was estimated: the estimate can lock onto a harmonic or a strong bearing line, so confirm the speed and give --rpm before acting on a bearing finding")
		}
		if b.Estimated {
			rep.Notes = append(rep.Notes, fmt.Sprintf("bearing %s geometry is %s; fault frequencies may be off by a few per cent", b.Designation, b.Source))
		}
		rep.Bearing = br
	}
	for _, f := range res.Findings {
		fr := findingReport{Fault: f.Fault, Confidence: finite(f.Confidence), Detected: f.Detected,
			Summary: describeFinding(f, res), Evidence: []evidenceReport{}}
		if f.Axis >= 0 && f.Axis < len(rec.Axes) && f.Fault != dsp.FaultNormal {
			fr.Axis = rec.Axes[f.Axis]
		}
		for _, e := range f.Evidence {
			fr.Evidence = append(fr.Evidence, evidenceReport{What: e.What, Spectrum: e.Spectrum, ExpectedHz: finite(e.Expected),
				FreqHz: finite(e.Freq), Order: finite(e.Order), DB: finite(e.DB), Present: e.Present, Ambiguous: e.Ambiguous})
		}
		rep.Diagnosis = append(rep.Diagnosis, fr)
	}
	return rep
}

func ptr(v float64) *float64 { v = finite(v); return &v }

// finite keeps NaN and infinities (which JSON cannot carry) out of the
// report and rounds to 6 significant digits, more than any of these
// measurements resolves.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return r
}

var faultWords = map[string]string{
	dsp.FaultImbalance:    "Imbalance",
	dsp.FaultMisalignment: "Misalignment",
	dsp.FaultLooseness:    "Mechanical looseness",
	dsp.FaultOuterRace:    "Outer race defect",
	dsp.FaultInnerRace:    "Inner race defect",
	dsp.FaultBall:         "Rolling element (ball) defect",
	dsp.FaultCage:         "Cage defect",
}

// evidenceName splits dsp's evidence labels: "BPFO x2" is the 2nd
// harmonic of BPFO, "2xBSF" the 2nd of BSF, "BPFI-1x" a sideband, "1.5x"
// a shaft order.
var evidenceName = regexp.MustCompile(`^(?:(\d+)x)?(BPFO|BPFI|BSF|FTF)(?: x(\d+))?([+-](?:1x|FTF))?$`)

// describeFinding puts a finding in plain words for a maintenance
// engineer: what, how sure, and the lines it rests on.
func describeFinding(f dsp.Finding, res *dsp.Result) string {
	if f.Fault == dsp.FaultNormal {
		return fmt.Sprintf("No fault pattern found (confidence %.2f): no bearing or shaft rule fired", f.Confidence)
	}
	name := faultWords[f.Fault]
	if name == "" {
		name = f.Fault
	}
	how := "likely"
	switch {
	case !f.Detected:
		how = "not detected, weak sign only"
	case f.Confidence < 0.7:
		how = "possible"
	}
	var (
		harm     = map[string][]int{} // family -> harmonic numbers
		famHz    = map[string]float64{}
		order    []string
		sides    []string
		shaftOrd []string
		maxDB    float64
		spectrum string
	)
	for _, e := range f.Evidence {
		if !e.Present {
			continue
		}
		maxDB = max(maxDB, e.DB)
		spectrum = e.Spectrum
		if m := evidenceName.FindStringSubmatch(e.What); m != nil {
			fam := m[2]
			if m[4] != "" {
				side := strings.TrimLeft(m[4], "+-")
				if side == "1x" {
					side = "1× shaft"
				}
				sides = append(sides, "±"+side)
				continue
			}
			h := 1
			if m[1] != "" {
				h, _ = strconv.Atoi(m[1])
			}
			if m[3] != "" {
				k, _ := strconv.Atoi(m[3])
				h *= k
			}
			if _, ok := harm[fam]; !ok {
				order = append(order, fam)
			}
			harm[fam] = append(harm[fam], h)
			if h == 1 || famHz[fam] == 0 {
				famHz[fam] = e.Freq / float64(h)
			}
			continue
		}
		shaftOrd = append(shaftOrd, strings.TrimSuffix(e.What, "x")+"×")
	}
	var parts []string
	for _, fam := range order {
		hs := harm[fam]
		slices.Sort(hs)
		var s []string
		for _, h := range hs {
			s = append(s, fmt.Sprintf("%d×", h))
		}
		parts = append(parts, fmt.Sprintf("%s %s (%.1f Hz)", strings.Join(s, ", "), fam, famHz[fam]))
	}
	if len(shaftOrd) > 0 {
		parts = append(parts, fmt.Sprintf("%s shaft speed (%.1f Hz)", strings.Join(shaftOrd, ", "), res.RPM/60))
	}
	var ev string
	switch {
	case len(parts) == 0:
		ev = "no line above the detection level"
	default:
		noun := "peaks"
		if countPresent(f.Evidence) == 1 {
			noun = "peak"
		}
		ev = fmt.Sprintf("%s %s at %s", spectrum, noun, strings.Join(parts, "; "))
		if len(sides) > 0 {
			slices.Sort(sides)
			ev += " with " + strings.Join(slices.Compact(sides), ", ") + " sidebands"
		}
		ev += fmt.Sprintf(", up to %.0f dB over floor", maxDB)
	}
	if f.Fault == dsp.FaultImbalance || f.Fault == dsp.FaultMisalignment || f.Fault == dsp.FaultLooseness {
		ev += fmt.Sprintf("; overall velocity %.2f mm/s", res.VelRMS)
	}
	return fmt.Sprintf("%s %s (confidence %.2f): %s", name, how, f.Confidence, ev)
}

func countPresent(ev []dsp.Evidence) int {
	n := 0
	for _, e := range ev {
		if e.Present {
			n++
		}
	}
	return n
}

// writeAnalysisText writes one file's result for people.
func writeAnalysisText(w io.Writer, r *analysisReport) {
	fmt.Fprintf(w, "== %s ==\n", r.File)
	axesWord := "axes"
	if len(r.Axes) == 1 {
		axesWord = "axis"
	}
	rateFrom := map[string]string{"flag": "from --rate", "wav header": "from the WAV header", "time column": "from the time column"}[r.SampleRateSource]
	fmt.Fprintf(w, "Recording    %s, %d %s, %d samples at %g Hz (%s), %.2f s\n",
		formatNames[recording.Format(r.Format)], len(r.Axes), axesWord, r.Samples, r.SampleRateHz, rateFrom, r.DurationS)
	switch {
	case r.RPM == nil:
		fmt.Fprintln(w, "Shaft speed  unknown: could not be estimated; give --rpm")
	case r.RPMSource == "given":
		fmt.Fprintf(w, "Shaft speed  %.0f rpm (%.2f Hz), given\n", *r.RPM, *r.ShaftHz)
	default:
		fmt.Fprintf(w, "Shaft speed  %.0f rpm (%.2f Hz), estimated from the spectrum (confidence %.2f)\n", *r.RPM, *r.ShaftHz, r.RPMConfidence)
	}
	if b := r.Bearing; b != nil {
		fmt.Fprintf(w, "Bearing      %s, %d elements, d/D %.3f, contact angle %g°", b.Designation, b.Elements, b.BallDiameter/b.PitchDiameter, b.ContactAngle)
		if b.BPFO != nil {
			fmt.Fprintf(w, ": BPFO %.1f Hz, BPFI %.1f Hz, BSF %.1f Hz, FTF %.1f Hz", *b.BPFO, *b.BPFI, *b.BSF, *b.FTF)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Axis\tAcc RMS\tAcc peak\tCrest\tKurtosis\tVel RMS\tVel band\tISO zone")
	fmt.Fprintln(tw, "\t[g]\t[g]\t\t\t[mm/s]\t[Hz]\t")
	for _, a := range r.Axes {
		zone := "-"
		if a.ISOZone != "" {
			zone = a.ISOZone
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.1f\t%.1f\t%.2f\t%.0f-%.0f\t%s\n", a.Name, a.AccRMS, a.AccPeak, a.Crest, a.Kurtosis, a.VelRMS, a.VelBand[0], a.VelBand[1], zone)
	}
	tw.Flush()
	fmt.Fprintln(w)

	if iso := r.ISO; iso != nil {
		groupWords := map[int]string{1: "large machines, 300 kW-50 MW", 2: "medium machines, 15-300 kW"}[iso.Group]
		fmt.Fprintf(w, "ISO 10816-3  zone %s, %s\n", iso.Zone, iso.Meaning)
		fmt.Fprintf(w, "             %.2f mm/s RMS; group %d (%s), %s foundation: A/B %.1f, B/C %.1f, C/D %.1f mm/s\n",
			iso.VelRMS, iso.Group, groupWords, iso.Foundation, iso.LimitAB, iso.LimitBC, iso.LimitCD)
	} else {
		fmt.Fprintf(w, "ISO 10816-3  not graded (%.2f mm/s RMS); give --group 1 (300 kW-50 MW) or --group 2 (15-300 kW)\n", r.VelRMS)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Diagnosis")
	shown := 0
	for _, f := range r.Diagnosis {
		if shown == 3 || (shown > 0 && f.Confidence < 0.05) {
			break
		}
		shown++
		where := ""
		if f.Axis != "" && len(r.Axes) > 1 {
			where = " (strongest on " + f.Axis + ")"
		}
		fmt.Fprintf(w, "  %d. %s%s\n", shown, f.Summary, where)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	fmt.Fprintln(w)

	for i, a := range r.Axes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Spectrum peaks, %s (acceleration, highest over the floor first)\n", a.Name)
		if len(a.Peaks) == 0 {
			fmt.Fprintln(w, "  none above the floor")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  Freq [Hz]\tAmp [g]\tOver floor [dB]\tOrder\t")
		for _, p := range a.Peaks[:min(len(a.Peaks), 5)] {
			ord := "-"
			if p.Order != nil {
				ord = fmt.Sprintf("%.2f×", *p.Order)
			}
			fmt.Fprintf(tw, "  %.1f\t%.4f\t%.1f\t%s\t\n", p.FreqHz, p.AmpG, p.DB, ord)
		}
		tw.Flush()
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressMeter shows how far reading and analysing a file has got, on
// stderr, once the file has taken longer than progressAfter. On a
// terminal the line is redrawn; elsewhere (--progress into a log) a line
// is written per second.
type progressMeter struct {
	w           io.Writer
	tty         bool
	name        string
	start       time.Time
	read, total atomic.Int64
	phase       atomic.Int32 // 0 reading, 1 analysing
	quit        chan struct{}
	done        chan struct{}
	once        sync.Once
	shown       bool
}

func startProgress(w io.Writer, enabled bool, path string) *progressMeter {
	m := &progressMeter{w: w, tty: isTerminal(w), name: filepath.Base(path), start: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	if !enabled {
		close(m.done)
		return m
	}
	go m.loop()
	return m
}

func (m *progressMeter) reading(read, total int64) { m.read.Store(read); m.total.Store(total) }

func (m *progressMeter) analysing() { m.phase.Store(1) }

func (m *progressMeter) loop() {
	defer close(m.done)
	every := progressEvery
	if m.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			if m.shown {
				if m.tty {
					fmt.Fprint(m.w, "\r\033[K")
				} else {
					fmt.Fprintf(m.w, "%s: done in %.1f s\n", m.name, time.Since(m.start).Seconds())
				}
			}
			return
		case <-t.C:
			if time.Since(m.start) < progressAfter {
				continue
			}
			m.shown = true
			var s string
			if m.phase.Load() == 1 {
				s = fmt.Sprintf("%s: analysing (%.0f s)", m.name, time.Since(m.start).Seconds())
			} else if tot := m.total.Load(); tot > 0 {
				s = fmt.Sprintf("%s: reading %3.0f%% (%.1f of %.1f MiB)", m.name, 100*float64(m.read.Load())/float64(tot), float64(m.read.Load())/(1<<20), float64(tot)/(1<<20))
			} else {
				s = fmt.Sprintf("%s: reading (%.1f MiB)", m.name, float64(m.read.Load())/(1<<20))
			}
			if m.tty {
				fmt.Fprintf(m.w, "\r\033[K%s", s)
			} else {
				fmt.Fprintln(m.w, s)
			}
		}
	}
}

// stop ends the meter and clears its line; safe twice.
func (m *progressMeter) stop() {
	m.once.Do(func() {
		select {
		case <-m.done:
		default:
			close(m.quit)
		}
	})
	<-m.done
}
