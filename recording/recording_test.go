package recording

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

// signal returns n samples of a 50 Hz sine plus a 1234.5 Hz tone at
// rate Hz, scaled by amp, different per channel.
func signal(channels, n int, rate, amp float64) [][]float64 {
	out := make([][]float64, channels)
	for c := range out {
		out[c] = make([]float64, n)
		for i := range out[c] {
			t := float64(i) / rate
			out[c][i] = amp * (0.5*math.Sin(2*math.Pi*50*t+float64(c)) + 0.2*math.Sin(2*math.Pi*1234.5*t))
		}
	}
	return out
}

// writeFile writes b to name in a fresh temporary directory.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func encode(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// assertClose fails when got and want differ by more than tol anywhere.
func assertClose(t *testing.T, got, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d axes, want %d", len(got), len(want))
	}
	for c := range want {
		if len(got[c]) != len(want[c]) {
			t.Fatalf("axis %d: got %d samples, want %d", c, len(got[c]), len(want[c]))
		}
		for i := range want[c] {
			if d := math.Abs(got[c][i] - want[c][i]); d > tol {
				t.Fatalf("axis %d sample %d: got %v, want %v (tolerance %g)", c, i, got[c][i], want[c][i], tol)
			}
		}
	}
}

func TestReadFormats(t *testing.T) {
	const rate = 8000
	x := signal(3, 1000, rate, 0.9)
	tests := []struct {
		name     string
		file     string
		data     []byte
		o        Options
		axes     int
		tol      float64
		rate     float64
		source   string
		axisName string
	}{
		{"wav 16-bit", "a.wav", encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, rate, x[:1], WAVEncoding{Bits: 16}) }), Options{}, 1, 1.0 / (1 << 15), rate, "wav header", "ch1"},
		{"wav 24-bit stereo", "a.wav", encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, rate, x[:2], WAVEncoding{Bits: 24}) }), Options{}, 2, 1.0 / (1 << 23), rate, "wav header", "ch1"},
		{"wav 32-bit int", "a.wave", encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, rate, x, WAVEncoding{Bits: 32}) }), Options{}, 3, 1.0 / (1 << 31), rate, "wav header", "ch1"},
		{"wav float32", "a.WAV", encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, rate, x, WAVEncoding{Bits: 32, Float: true}) }), Options{}, 3, 1e-7, rate, "wav header", "ch1"},
		{"wav rate overridden by flag", "a.wav", encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, 44100, x[:1], WAVEncoding{Bits: 32, Float: true}) }), Options{Rate: rate}, 1, 1e-7, rate, "flag", "ch1"},
		{"f32 one channel", "a.f32", encode(t, func(b *bytes.Buffer) error { return WriteF32(b, x[:1]) }), Options{Rate: rate}, 1, 1e-7, rate, "flag", "ch1"},
		{"f32 three channels", "a.f32", encode(t, func(b *bytes.Buffer) error { return WriteF32(b, x) }), Options{Rate: rate, Channels: 3}, 3, 1e-7, rate, "flag", "ch1"},
		{"f32 by option, odd name", "a.bin", encode(t, func(b *bytes.Buffer) error { return WriteF32(b, x[:1]) }), Options{Rate: rate, Format: F32}, 1, 1e-7, rate, "flag", "ch1"},
		{"csv with time column", "a.csv", encode(t, func(b *bytes.Buffer) error { return WriteCSV(b, rate, []string{"x", "y", "z"}, x) }), Options{}, 3, 0, rate, "time column", "x"},
		{"csv without time column", "a.csv", encode(t, func(b *bytes.Buffer) error { return WriteCSV(b, 0, []string{"x", "y"}, x[:2]) }), Options{Rate: rate}, 2, 0, rate, "flag", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.data)
			rec, err := ReadFile(context.Background(), path, tt.o)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			assertClose(t, rec.Samples, x[:tt.axes], tt.tol)
			if rec.Rate != tt.rate || rec.RateSource != tt.source {
				t.Errorf("rate: got %v from %q, want %v from %q", rec.Rate, rec.RateSource, tt.rate, tt.source)
			}
			if rec.Axes[0] != tt.axisName {
				t.Errorf("axis name: got %q, want %q", rec.Axes[0], tt.axisName)
			}
		})
	}
}

func TestReadCSVDialects(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		rate  float64
		axes  []string
		want  [][]float64
		wantR float64
	}{
		{"no header, comma", "1,2\n3,4\n", 100, []string{"ch1", "ch2"}, [][]float64{{1, 3}, {2, 4}}, 100},
		{"semicolon with decimal comma", "x;y\n0,5;1,5\n-2,25;3\n", 100, []string{"x", "y"}, [][]float64{{0.5, -2.25}, {1.5, 3}}, 100},
		{"tab, BOM, comments, blank lines, CRLF", "\xEF\xBB\xBF# exported by scope\r\nx\ty\r\n\r\n1\t2\r\n3\t4\r\n", 100, []string{"x", "y"}, [][]float64{{1, 3}, {2, 4}}, 100},
		{"trailing separator", "x,y,\n1,2,\n3,4,\n", 100, []string{"x", "y"}, [][]float64{{1, 3}, {2, 4}}, 100},
		{"time in ms, second column", "acc,time_ms\n1,0\n2,0.5\n3,1.0\n", 0, []string{"acc"}, [][]float64{{1, 2, 3}}, 2000},
		{"time (s) header, spaces", "Time (s), X , Y\n0, 1, 2\n0.01, 3, 4\n0.02, 5, 6\n", 0, []string{"X", "Y"}, [][]float64{{1, 3, 5}, {2, 4, 6}}, 100},
		{"single column", "az\n0.1\n-0.1\n", 50, []string{"az"}, [][]float64{{0.1, -0.1}}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Read(context.Background(), strings.NewReader(tt.text), "x.csv", Options{Rate: tt.rate})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if strings.Join(rec.Axes, ",") != strings.Join(tt.axes, ",") {
				t.Errorf("axes: got %q, want %q", rec.Axes, tt.axes)
			}
			assertClose(t, rec.Samples, tt.want, 1e-12)
			if math.Abs(rec.Rate-tt.wantR) > 1e-9 {
				t.Errorf("rate: got %v, want %v", rec.Rate, tt.wantR)
			}
		})
	}
}

func TestReadUnitsAndScale(t *testing.T) {
	rec, err := Read(context.Background(), strings.NewReader("9.80665\n-19.6133\n"), "a.csv", Options{Rate: 10, Units: MS2})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, rec.Samples, [][]float64{{1, -2}}, 1e-12)
	wav := encode(t, func(b *bytes.Buffer) error { return WriteWAV(b, 100, [][]float64{{0.5, -0.25}}, WAVEncoding{Bits: 16}) })
	rec, err = Read(context.Background(), bytes.NewReader(wav), "a.wav", Options{Scale: 4})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, rec.Samples, [][]float64{{2, -1}}, 1e-12)
}

func TestNeedSamples(t *testing.T) {
	rec := &Recording{Rate: 1000, Samples: [][]float64{make([]float64, 100)}}
	err := rec.NeedSamples(256)
	if err == nil || !strings.Contains(err.Error(), "100 samples") || !strings.Contains(err.Error(), "at least 256") {
		t.Errorf("got %v, want an error saying 100 samples, at least 256", err)
	}
	if err := rec.NeedSamples(100); err != nil {
		t.Errorf("got %v for exactly enough samples, want nil", err)
	}
}

// wavHeader returns a WAV header with the given fmt fields and a data
// chunk of n bytes (data not included).
func wavHeader(tag, ch uint16, rate uint32, bits uint16, n uint32) []byte {
	le := binary.LittleEndian
	h := []byte("RIFF")
	h = le.AppendUint32(h, 36+n)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, tag)
	h = le.AppendUint16(h, ch)
	h = le.AppendUint32(h, rate)
	h = le.AppendUint32(h, rate*uint32(ch)*uint32(bits/8))
	h = le.AppendUint16(h, ch*bits/8)
	h = le.AppendUint16(h, bits)
	h = append(h, "data"...)
	return le.AppendUint32(h, n)
}

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestReadErrors(t *testing.T) {
	nanWAV := append(wavHeader(3, 1, 1000, 32, 12), f32bytes(0.1, float32(math.NaN()), 0.2)...)
	tests := []struct {
		name string
		file string
		data string
		o    Options
		code string
		want []string // fragments the message must contain
	}{
		{"empty file", "a.csv", "", Options{Rate: 1}, vibemon.EINVALID, []string{"empty"}},
		{"empty f32", "a.f32", "", Options{Rate: 1}, vibemon.EINVALID, []string{"empty"}},
		{"unknown extension", "a.dat", "1\n", Options{}, vibemon.EINVALID, []string{`".dat"`, "--input-format"}},
		{"no extension", "recording", "1\n", Options{}, vibemon.EINVALID, []string{"--input-format"}},
		{"unknown format option", "a.csv", "1\n", Options{Format: "mat"}, vibemon.EINVALID, []string{`"mat"`}},
		{"ragged row", "a.csv", "x,y\n1,2\n3\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 2", "line 3", "1 columns", "header has 2"}},
		{"ragged without header", "a.csv", "1,2\n3,4,5\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 2", "3 columns", "first row has 2"}},
		{"non-numeric cell", "a.csv", "x,y\n1,2\n3,abc\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 2", "line 3", "column 2 (y)", `"abc"`}},
		{"empty cell", "a.csv", "x,y\n1,\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 1", "column 2 (y)", "empty cell"}},
		{"NaN in CSV", "a.csv", "x\n1\nNaN\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 2", "column 1 (x)", "NaN"}},
		{"Inf in CSV", "a.csv", "1\n-Inf\n", Options{Rate: 1}, vibemon.EINVALID, []string{"row 2", "infinite"}},
		{"header mixes names and numbers", "a.csv", "x,1.5\n1,2\n", Options{Rate: 1}, vibemon.EINVALID, []string{"header", "column 2", `"1.5"`}},
		{"header with empty name", "a.csv", "x,,z\n1,2,3\n", Options{Rate: 1}, vibemon.EINVALID, []string{"header", "column 2 has no name"}},
		{"duplicate header", "a.csv", "x,X\n1,2\n", Options{Rate: 1}, vibemon.EINVALID, []string{"columns 1 and 2", `"X"`}},
		{"two time columns", "a.csv", "t,time,x\n0,0,1\n", Options{}, vibemon.EINVALID, []string{"two time columns"}},
		{"only time column", "a.csv", "time\n0\n1\n", Options{}, vibemon.EINVALID, []string{"only a time column"}},
		{"header only", "a.csv", "x,y\n", Options{Rate: 1}, vibemon.EINVALID, []string{"no data rows"}},
		{"too many columns", "a.csv", "1,2,3,4\n", Options{Rate: 1}, vibemon.EINVALID, []string{"4 sample columns", "1 to 3"}},
		{"time not increasing", "a.csv", "t,x\n0,1\n0.1,2\n0.1,3\n", Options{}, vibemon.EINVALID, []string{"row 3", "not after"}},
		{"time with a gap", "a.csv", "t,x\n0,1\n0.1,2\n0.2,3\n0.5,4\n0.6,5\n", Options{}, vibemon.EINVALID, []string{"gap", "0.2 s to 0.5 s"}},
		{"csv without rate", "a.csv", "x\n1\n2\n", Options{}, vibemon.EINVALID, []string{"--rate", "no time column"}},
		{"bad quote", "a.csv", "x\n\"1\n", Options{Rate: 1}, vibemon.EINVALID, []string{"line"}},
		{"f32 without rate", "a.f32", string(f32bytes(1, 2)), Options{}, vibemon.EINVALID, []string{"--rate"}},
		{"f32 size not a multiple of 4", "a.f32", string(f32bytes(1, 2)) + "x", Options{Rate: 1}, vibemon.EINVALID, []string{"9 bytes", "multiple of 4"}},
		{"f32 size not a multiple of channels", "a.f32", string(f32bytes(1, 2, 3)), Options{Rate: 1, Channels: 2}, vibemon.EINVALID, []string{"12 bytes", "multiple of 8", "--channels"}},
		{"f32 NaN", "a.f32", string(f32bytes(1, 2, 3, float32(math.NaN()))), Options{Rate: 2, Channels: 2}, vibemon.EINVALID, []string{"NaN", "sample 1", "channel 2"}},
		{"f32 Inf", "a.f32", string(f32bytes(float32(math.Inf(1)))), Options{Rate: 1}, vibemon.EINVALID, []string{"infinite", "sample 0"}},
		{"f32 too many channels", "a.f32", string(f32bytes(1, 2, 3, 4)), Options{Rate: 1, Channels: 4}, vibemon.EINVALID, []string{"--channels 4"}},
		{"not a WAV", "a.wav", "hello, world, this is text", Options{}, vibemon.EINVALID, []string{"not a WAV", `"hell"`}},
		{"WAV shorter than a header", "a.wav", "RIFF", Options{}, vibemon.EINVALID, []string{"not a WAV"}},
		{"WAV 8-bit", "a.wav", string(wavHeader(1, 1, 1000, 8, 0)), Options{}, vibemon.EINVALID, []string{"8-bit PCM", "not supported"}},
		{"WAV mu-law", "a.wav", string(wavHeader(7, 1, 1000, 8, 0)), Options{}, vibemon.EINVALID, []string{"µ-law", "not supported"}},
		{"WAV ADPCM", "a.wav", string(wavHeader(2, 1, 1000, 4, 0)), Options{}, vibemon.EINVALID, []string{"ADPCM", "not supported"}},
		{"WAV 4 channels", "a.wav", string(wavHeader(1, 4, 1000, 16, 0)), Options{}, vibemon.EINVALID, []string{"4 channels"}},
		{"WAV truncated data", "a.wav", string(wavHeader(1, 1, 1000, 16, 100)) + "abcd", Options{}, vibemon.EINVALID, []string{"100 bytes", "ends after 4"}},
		{"WAV no data chunk", "a.wav", string(wavHeader(1, 1, 1000, 16, 0)[:36]), Options{}, vibemon.EINVALID, []string{"no data chunk"}},
		{"WAV NaN", "a.wav", string(nanWAV), Options{}, vibemon.EINVALID, []string{"NaN", "sample 1", "0.001 s", "channel 1"}},
		{"size limit", "a.csv", strings.Repeat("1\n", 100), Options{Rate: 1, MaxBytes: 50}, vibemon.ETOOLARGE, []string{"limit"}},
		{"m/s2 typo", "a.csv", "1\n", Options{Rate: 1, Units: "mm"}, vibemon.EINVALID, []string{"units"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, []byte(tt.data))
			_, err := ReadFile(context.Background(), path, tt.o)
			if err == nil {
				t.Fatalf("got no error, want %s mentioning %q", tt.code, tt.want)
			}
			if got := vibemon.ErrorCode(err); got != tt.code {
				t.Errorf("code: got %q, want %q (%v)", got, tt.code, err)
			}
			msg := vibemon.ErrorMessage(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(context.Background(), filepath.Join(t.TempDir(), "nope.csv"), Options{})
	if got := vibemon.ErrorMessage(err); got != "no such file" {
		t.Errorf("got %q, want %q", got, "no such file")
	}
}

func TestReadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Read(ctx, strings.NewReader("1\n2\n"), "a.csv", Options{Rate: 1})
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("got %v, want a cancellation error", err)
	}
}

func TestReadProgress(t *testing.T) {
	data := encode(t, func(b *bytes.Buffer) error { return WriteF32(b, signal(1, 100000, 1000, 1)) })
	path := writeFile(t, "a.f32", data)
	var last, total int64
	_, err := ReadFile(context.Background(), path, Options{Rate: 1000, Progress: func(r, tot int64) { last, total = r, tot }})
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("progress: got %d of %d, want %d of %d", last, total, len(data), len(data))
	}
}
