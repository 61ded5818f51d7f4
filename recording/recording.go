package recording

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/vibemon/vibemon"
)

// Format is a recording's file format.
type Format string

// Formats.
const (
	CSV Format = "csv" // text, one column per axis
	WAV Format = "wav" // RIFF WAVE, one channel per axis
	F32 Format = "f32" // raw little-endian float32, interleaved channels
)

// ParseFormat returns the Format named s ("csv", "wav" or "f32").
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case CSV, WAV, F32:
		return f, nil
	}
	return "", vibemon.Errorf(vibemon.EINVALID, "unknown input format %q; want csv, wav or f32", s)
}

// FormatFromName returns the Format a file name's extension implies:
// .csv, .tsv and .txt are CSV, .wav and .wave WAV, .f32 raw float32.
func FormatFromName(name string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".csv", ".tsv", ".txt":
		return CSV, nil
	case ".wav", ".wave":
		return WAV, nil
	case ".f32":
		return F32, nil
	case "":
		return "", vibemon.Errorf(vibemon.EINVALID, "unknown format (no file extension); give --input-format csv, wav or f32")
	default:
		return "", vibemon.Errorf(vibemon.EINVALID, "unknown format (extension %q); give --input-format csv, wav or f32", ext)
	}
}

// Units is the unit of acceleration samples in a file.
type Units string

// Units.
const (
	G   Units = "g"    // standard gravity, 9.80665 m/s²
	MS2 Units = "m/s2" // metres per second squared
)

// ParseUnits returns the Units named s: "g", or "m/s2" (also written
// "m/s^2" or "m/s²").
func ParseUnits(s string) (Units, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "g":
		return G, nil
	case "m/s2", "m/s^2", "m/s²", "ms2", "mps2":
		return MS2, nil
	}
	return "", vibemon.Errorf(vibemon.EINVALID, "unknown units %q; want g or m/s2", s)
}

// StandardGravity is 1 g in m/s², the divisor that turns m/s² into g.
const StandardGravity = 9.80665

// MaxAxes is the most axes (columns, channels) a recording may have: a
// sensor measures at most three directions.
const MaxAxes = 3

// DefaultMaxBytes is the file size limit when Options.MaxBytes is 0.
const DefaultMaxBytes = 1 << 30

// Options say how to read a recording. The zero value takes the format
// from the file name, the sample rate from the file, one channel for raw
// float32, samples in g, a scale of 1 and a 1 GiB size limit.
type Options struct {
	// Format is the file format; empty means from the name's extension.
	Format Format
	// Rate is the sample rate, Hz. 0 means from the file (a WAV header,
	// a CSV time column); a non-zero Rate overrides the file.
	Rate float64
	// Channels is the number of interleaved channels of raw float32; 0
	// means 1. Ignored for CSV and WAV, which say it themselves.
	Channels int
	// Units of the samples after Scale; empty means g.
	Units Units
	// Scale multiplies every sample (for integer WAV, whose samples are
	// read as fractions of full scale: the units per full scale); 0
	// means 1.
	Scale float64
	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Progress, when not nil, is called as the file is read with the
	// bytes read so far and the total (0 when unknown).
	Progress func(read, total int64)
}

// Recording is a multi-axis vibration record in g.
type Recording struct {
	Format Format
	// Rate is the sample rate, Hz; RateSource says where it came from:
	// "flag", "wav header" or "time column".
	Rate       float64
	RateSource string
	// Axes names each axis: from a CSV header, else "ch1", "ch2", ...
	Axes []string
	// Samples holds one slice per axis, all of the same length, in g.
	Samples [][]float64
	// Units were the file's units before conversion to g.
	Units Units
	// Bits is the sample width of the file (16, 24, 32, 64); 0 for CSV.
	Bits int
	// Float is true when the file held floating-point samples.
	Float bool
}

// Len returns the number of samples per axis.
func (r *Recording) Len() int {
	if len(r.Samples) == 0 {
		return 0
	}
	return len(r.Samples[0])
}

// Duration returns the length of the recording in seconds.
func (r *Recording) Duration() float64 {
	if r.Rate <= 0 {
		return 0
	}
	return float64(r.Len()) / r.Rate
}

// NeedSamples returns an EINVALID error saying how short the recording
// is when it has fewer than n samples per axis.
func (r *Recording) NeedSamples(n int) error {
	if got := r.Len(); got < n {
		return vibemon.Errorf(vibemon.EINVALID, "recording too short: %d samples per axis (%.3g s at %g Hz); the analysis needs at least %d",
			got, r.Duration(), r.Rate, n)
	}
	return nil
}

// ReadFile reads the recording in the file at path.
func ReadFile(ctx context.Context, path string, o Options) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, vibemon.Errorf(vibemon.EINVALID, "no such file")
		}
		return nil, fmt.Errorf("open recording: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat recording: %w", err)
	}
	if st.IsDir() {
		return nil, vibemon.Errorf(vibemon.EINVALID, "is a directory, not a recording")
	}
	return read(ctx, f, path, st.Size(), o)
}

// Read reads a recording from r; name (a file name) sets the format when
// o.Format is empty.
func Read(ctx context.Context, r io.Reader, name string, o Options) (*Recording, error) {
	return read(ctx, r, name, 0, o)
}

// errTooLarge is what the size-limited reader returns past the limit.
var errTooLarge = errors.New("too large")

// source wraps the file: it enforces the size limit, honours the
// context and reports progress.
type source struct {
	ctx      context.Context
	r        io.Reader
	n, max   int64
	total    int64
	progress func(read, total int64)
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.max {
		return n, errTooLarge
	}
	if s.progress != nil && n > 0 {
		s.progress(s.n, s.total)
	}
	return n, err
}

func read(ctx context.Context, r io.Reader, name string, size int64, o Options) (*Recording, error) {
	format := o.Format
	if format == "" {
		f, err := FormatFromName(name)
		if err != nil {
			return nil, err
		}
		format = f
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return nil, vibemon.Errorf(vibemon.EINVALID, "sample rate %v is not a positive number", o.Rate)
	}
	scale := o.Scale
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, vibemon.Errorf(vibemon.EINVALID, "scale %v is not a positive number", o.Scale)
	}
	units := o.Units
	if units == "" {
		units = G
	}
	if units != G && units != MS2 {
		return nil, vibemon.Errorf(vibemon.EINVALID, "unknown units %q; want g or m/s2", units)
	}
	if units == MS2 {
		scale /= StandardGravity
	}
	maxBytes := o.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if size > maxBytes {
		return nil, tooLarge(size, maxBytes)
	}
	src := &source{ctx: ctx, r: r, max: maxBytes, total: size, progress: o.Progress}
	br := bufio.NewReaderSize(src, 1<<16)
	if _, err := br.Peek(1); err == io.EOF {
		return nil, vibemon.Errorf(vibemon.EINVALID, "file is empty (0 bytes)")
	}

	var rec *Recording
	var err error
	switch format {
	case CSV:
		rec, err = readCSV(br)
	case WAV:
		rec, err = readWAV(br, size)
	case F32:
		rec, err = readF32(br, o.Channels, o.Rate, size)
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		switch {
		case errors.Is(err, errTooLarge):
			return nil, tooLarge(src.n, maxBytes)
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("read recording: %w", err)
		}
		return nil, err
	}
	rec.Format, rec.Units = format, units
	if o.Rate > 0 {
		rec.Rate, rec.RateSource = o.Rate, "flag"
	}
	if rec.Rate <= 0 {
		why := map[Format]string{
			CSV: "the CSV has no time column",
			F32: "raw float32 has no header",
			WAV: "the WAV header gives none",
		}[format]
		return nil, vibemon.Errorf(vibemon.EINVALID, "sample rate unknown (%s); give --rate HZ", why)
	}
	if scale != 1 {
		for _, x := range rec.Samples {
			for i := range x {
				x[i] *= scale
			}
		}
	}
	return rec, nil
}

func tooLarge(n, limit int64) error {
	return vibemon.Errorf(vibemon.ETOOLARGE, "file is larger than the %s limit (%s read)", byteSize(limit), byteSize(n))
}

// byteSize formats a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// axisNames returns "ch1", "ch2", ... for n axes.
func axisNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ch%d", i+1)
	}
	return out
}

// badSample describes a NaN or infinite sample for an error message.
func badSample(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return "an infinite value"
}

// where names a sample of a binary file by its frame, time and channel.
func where(frame, ch int, rate float64) string {
	s := fmt.Sprintf("sample %d", frame)
	if rate > 0 {
		s += fmt.Sprintf(" (%.4g s)", float64(frame)/rate)
	}
	return s + fmt.Sprintf(" of channel %d", ch+1)
}
