package recording

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/vibemon/vibemon"
)

// checkParsed holds every parser to the same contract on any input: an
// error is a *vibemon.Error (never a bare I/O or index error), and a
// success is a rectangular, finite, non-empty recording with a rate.
func checkParsed(t *testing.T, rec *Recording, err error) {
	t.Helper()
	if err != nil {
		if code := vibemon.ErrorCode(err); code != vibemon.EINVALID && code != vibemon.ETOOLARGE {
			t.Fatalf("error code %q for %v, want invalid or too_large", code, err)
		}
		return
	}
	if len(rec.Samples) == 0 || len(rec.Samples) > MaxAxes || len(rec.Axes) != len(rec.Samples) {
		t.Fatalf("got %d axes with %d names", len(rec.Samples), len(rec.Axes))
	}
	if !(rec.Rate > 0) || math.IsInf(rec.Rate, 0) {
		t.Fatalf("rate %v", rec.Rate)
	}
	n := rec.Len()
	if n == 0 {
		t.Fatal("no samples and no error")
	}
	for c, x := range rec.Samples {
		if len(x) != n {
			t.Fatalf("axis %d has %d samples, axis 0 has %d", c, len(x), n)
		}
		for i, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("axis %d sample %d is %v", c, i, v)
			}
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("t,x,y,z\n0,0.1,0.2,0.3\n0.001,0.2,0.1,0\n0.002,0,0,0\n"))
	f.Add([]byte("x;y\n0,5;1,5\n-2,25;3\n"))
	f.Add([]byte("\xEF\xBB\xBF# c\r\nx\ty\r\n1\t2\r\n"))
	f.Add([]byte("1,2,\n3,4,\n"))
	f.Add([]byte("Time (ms),a\n0,1\n1,2\n"))
	f.Add([]byte("x\n\"1\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Read(context.Background(), bytes.NewReader(b), "f.csv", Options{MaxBytes: 1 << 20})
		checkParsed(t, rec, err)
		rec, err = Read(context.Background(), bytes.NewReader(b), "f.csv", Options{Rate: 100, MaxBytes: 1 << 20})
		checkParsed(t, rec, err)
	})
}

func FuzzReadWAV(f *testing.F) {
	x := signal(2, 16, 1000, 0.5)
	for _, enc := range []WAVEncoding{{16, false}, {24, false}, {32, false}, {32, true}, {64, true}} {
		var b bytes.Buffer
		WriteWAV(&b, 1000, x, enc)
		f.Add(b.Bytes())
	}
	f.Add(wavHeader(1, 1, 1000, 16, 0xFFFFFFFF))
	f.Add(append(wavHeader(0xFFFE, 1, 1000, 16, 0), make([]byte, 24)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Read(context.Background(), bytes.NewReader(b), "f.wav", Options{MaxBytes: 1 << 20})
		checkParsed(t, rec, err)
	})
}

func FuzzReadF32(f *testing.F) {
	var b bytes.Buffer
	WriteF32(&b, signal(3, 8, 1000, 0.5))
	f.Add(b.Bytes(), uint8(3))
	f.Add(b.Bytes()[:20], uint8(1))
	f.Add(f32bytes(1, float32(math.NaN())), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, ch uint8) {
		rec, err := Read(context.Background(), bytes.NewReader(b), "f.f32", Options{Rate: 100, Channels: int(ch % 5), MaxBytes: 1 << 20})
		checkParsed(t, rec, err)
	})
}
