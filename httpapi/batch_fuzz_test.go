package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

// FuzzDecodeBatch checks that any body either fails whole with an
// application error or yields items that are each a reading with its
// required fields or a rejection, and that invalid JSON never passes.
func FuzzDecodeBatch(f *testing.F) {
	seeds := []string{
		`{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z","vel_rms_x":1.5,"temp_c":null}]}`,
		`{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z","vel_rms_x":"1.5"},7,[],{"x":{}}]}`,
		`{"readings":[{"device_id":1,"device_id":2,"seq":1,"ts":"2026-01-01T00:00:00Z","temp_c":1}]}`,
		`{"readings":[]}`, `{"readings":{}}`, `{"other":1}`, `[]`, `{`, `{"readings":[{"ts":"\u0032026-01-01T00:00:00Z"}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := decodeBatch(bytes.NewReader(data), 50)
		if err != nil {
			if code := vibemon.ErrorCode(err); code != vibemon.EINVALID && code != vibemon.ETOOLARGE {
				t.Fatalf("error %v has code %q, want invalid or too_large", err, code)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q decoded without error", data)
		}
		if len(items) > 50 {
			t.Fatalf("%d items decoded past the limit of 50", len(items))
		}
		for i, it := range items {
			if it.err == nil && (it.reading.TS.IsZero() || it.reading.Values == [vibemon.NumMetrics]float64{}) {
				t.Fatalf("item %d accepted without ts or values: %+v", i, it.reading)
			}
			if it.err != nil && vibemon.ErrorMessage(it.err) == "" {
				t.Fatalf("item %d rejected without a message", i)
			}
		}
	})
}

// batchSeeds are bodies that probe the corners of the batch decoder: the
// number grammar and float edge cases, escapes in names and values, UTF-8
// and surrogates, nesting, duplicates, the batch limit and what may follow
// the body.
func batchSeeds() []string {
	rd := func(extra string) string {
		return `{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z"` + extra + `}]}`
	}
	seeds := []string{
		`{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z","vel_rms_x":1.5,"temp_c":null}]}`,
		`{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z","vel_rms_x":"1.5"},7,[],{"x":{}}]}`,
		`{"readings":[{"device_id":1,"device_id":2,"seq":1,"ts":"2026-01-01T00:00:00Z","temp_c":1}]}`,
		`{"readings":[]}`, `{"readings":{}}`, `{"other":1}`, `[]`, `{`, `{"readings":[{"ts":"\u0032026-01-01T00:00:00Z"}]}`,
		``, ` `, `{}`, `null`, `"readings"`, `{"readings":null}`, `{"readings":"\xff`, `{"readings":[]}` + "\n\t\r ",
		`{"readings":[]} {}`, `{"readings":[]} x`, `{"readings":[]}{"readings":[]}`, `{"readings":[]} tru`, `{"readings":[]} 1x`,
		"\xef\xbb\xbf{\"readings\":[]}", `{"readings":[],}`, `{"readings":[1,]}`, `{"readings":[,1]}`, `{"readings" []}`,
		`{"readings":[1 2]}`, `{"readings":[] "readings":[]}`, `{"readings":[{}],"readings":[{},{}]}`, `{"re\u0061dings":[{}]}`,
		`{"readings":[{}]`, `{"readings":[{"device_id":1`, `{"readings":[1,2,3,4,5,6,7,8,9,10,11,12,13]}`, `{"readings":[1,2,3,4,5,6,7,8,9,x]}`,
		`{"readings":[nul]}`, `{"readings":[truex]}`, `{"readings":[true,false,null,"s",-1.5e3,{"a":[{"b":null}]}]}`, `{"readings":[{"a" 1}]}`,
		`{"readings":[{"a":1,}]}`, `{"readings":[{,"a":1}]}`, `{"readings":[{"a":1}}]}`, `{"readings":[{"a":[}]}]}`, `{"readings":[{1:2}]}`,
		`{"readings":[{"device_id":1,"seq":2}]}`, `{"readings":[{"seq":2,"ts":"2026-01-01T00:00:00Z"}]}`, `{"readings":[{"device_id":1,"ts":"2026-01-01T00:00:00Z"}]}`,
		rd(""), rd(`,"temp_c":-0`), rd(`,"temp_c":-0.0e-0`), rd(`,"temp_c":0.0`), rd(`,"temp_c":1e400`), rd(`,"temp_c":-1e400`),
		rd(`,"temp_c":1e-400`), rd(`,"temp_c":4.9e-324`), rd(`,"temp_c":2.2250738585072011e-308`), rd(`,"temp_c":1E+2`),
		rd(`,"temp_c":1.7976931348623157e308`), rd(`,"temp_c":1.7976931348623159e308`), rd(`,"temp_c":9007199254740993`),
		rd(`,"temp_c":0.1e1`), rd(`,"temp_c":123456789012345678901234567890123456789012345678901234567890`),
		rd(`,"temp_c":1.`), rd(`,"temp_c":.5`), rd(`,"temp_c":01`), rd(`,"temp_c":-`), rd(`,"temp_c":1e`), rd(`,"temp_c":1e+`),
		rd(`,"temp_c":+1`), rd(`,"temp_c":NaN`), rd(`,"temp_c":Infinity`), rd(`,"temp_c":-Infinity`), rd(`,"temp_c":0x10`),
		rd(`,"temp_c":true`), rd(`,"temp_c":"1"`), rd(`,"temp_c":{}`), rd(`,"temp_c":[1,{"a":[]}]`), rd(`,"temp_c":1,"temp_c":2`),
		rd(`,"temp_c":null,"temp_c":null`), rd(`,"temp_c":1,"bogus":2,"x":tru`), rd(`,"bogus":{"a":[1,2,{"b":"\u00e9"}]}`),
		rd(`,"vel\u005frms_x":1`), rd(`,"\u0074emp_c":1`), rd(`,"temp_c\u0000":1`), rd(`,"\ud83d\ude00":1`), rd(`,"\ud800":1`),
		rd(`,"\udc00\ud800":1`), rd(`,"\ud800\u0041":1`), rd(`,"a\/b":1`), rd(`,"a\x":1`), rd(`,"a\u12":1`), rd(`,"a\u12G4":1`),
		rd(",\"\xff\":1"), rd(",\"\xed\xa0\x80\":1"), rd(",\"\xc0\xaf\":1"), rd(",\"\x01\":1"), rd(",\"\x7f\":1"), rd(",\"\xf4\x90\x80\x80\":1"),
		rd(",\"\xe2\x82\":1"), rd(`,"` + strings.Repeat("n", 60) + `":1`), rd(`,"` + strings.Repeat("n", 60) + `":{}`),
		rd(`,"temp_c":` + strings.Repeat("9", 60)), rd(`,"ts":"2026-01-01T00:00:00Z"`), rd(`,"seq":3`),
		`{"readings":[{"device_id":9223372036854775807,"seq":0,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":9223372036854775808,"seq":0,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":-9223372036854775808,"seq":-0,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":1.0,"seq":0,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":1e2,"seq":0,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":"1","seq":null,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":1,"seq":true,"ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T00:00:00+01:00"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T00:00:00.123456789-07:30"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01t00:00:00z"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-13-01T00:00:00Z"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T24:00:00Z"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01 00:00:00Z"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T00:00:00\u005a"}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":1767225600}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T00:00:00Z","ts":"2026-01-01T00:00:00Z"}]}`,
		`{"readings":[{"device_\u0069d":1,"s\u0065q":1,"ts":"2026-01-01T00:00:00Z","temp_c":20}]}`,
		`{"readings":[{"device_id":1,"seq":1,"ts":"2026-01-01T00:00:00Z","temp_c":20}]}` + "\x00",
		"{\"readings\":[{\"device_id\":1,\"seq\":1,\"ts\":\"2026-01-01T00:00:00Z\",\"temp_c\":\"\t\"}]}",
		" \n{ \"readings\" : [ { \"device_id\" : 1 , \"seq\" : 1 , \"ts\" : \"2026-01-01T00:00:00Z\" , \"temp_c\" : 2 } ] } ",
	}
	return seeds
}

// TestDecodeBatchDepth: jsontext allows 10,000 levels of nesting, the body
// object being 1 and a reading 3; one more fails the body. (Not fuzz
// seeds: the fuzzer spends minutes minimizing 20 kB inputs.)
func TestDecodeBatchDepth(t *testing.T) {
	rd := func(extra string) string {
		return `{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z"` + extra + `}]}`
	}
	for _, n := range []int{maxBatchDepth - 2, maxBatchDepth - 1} {
		for _, body := range []string{
			`{"readings":[` + strings.Repeat("[", n) + strings.Repeat("]", n) + `]}`,
			rd(`,"x":` + strings.Repeat(`{"a":`, n-1) + "1" + strings.Repeat("}", n-1)),
			rd(`,"x":` + strings.Repeat(`[{"a":`, (n-1)/2) + "1" + strings.Repeat("}]", (n-1)/2)),
		} {
			want, wantErr := decodeBatchStream(strings.NewReader(body), 10)
			got, gotErr := decodeBatch(strings.NewReader(body), 10)
			if (wantErr == nil) != (n == maxBatchDepth-2) {
				t.Fatalf("depth %d: reference error %v", n+2, wantErr)
			}
			sameBatch(t, []byte(body[:40]), got, gotErr, want, wantErr)
		}
	}
}

// FuzzDecodeBatchSame holds decodeBatch to the reference decoder,
// decodeBatchStream: on any body and limit, the same whole-body error or
// the same items (readings to the bit, rejections with the same code and
// message); and the scanner alone accepts exactly the bodies the reference
// accepts, so a good body never takes the slow path.
func FuzzDecodeBatchSame(f *testing.F) {
	for _, s := range batchSeeds() {
		f.Add([]byte(s), uint8(9))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		maxBatch := int(limit%16) + 1
		want, wantErr := decodeBatchStream(bytes.NewReader(data), maxBatch)
		got, gotErr := decodeBatch(bytes.NewReader(data), maxBatch)
		if _, ok := scanBatch(data, maxBatch); ok != (wantErr == nil) {
			t.Fatalf("scanBatch ok = %v, reference error = %v, on %q", ok, wantErr, data)
		}
		sameBatch(t, data, got, gotErr, want, wantErr)
	})
}

func sameBatch(t *testing.T, data []byte, got []batchItem, gotErr error, want []batchItem, wantErr error) {
	t.Helper()
	if !sameError(gotErr, wantErr) {
		t.Fatalf("error = %v, reference %v, on %q", gotErr, wantErr, data)
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, reference %d, on %q", len(got), len(want), data)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !sameError(g.err, w.err) {
			t.Fatalf("item %d: error %v, reference %v, on %q", i, g.err, w.err, data)
		}
		if !sameReading(g.reading, w.reading) {
			t.Fatalf("item %d: reading %+v, reference %+v, on %q", i, g.reading, w.reading, data)
		}
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return vibemon.ErrorCode(a) == vibemon.ErrorCode(b) && vibemon.ErrorMessage(a) == vibemon.ErrorMessage(b)
}

// sameReading compares values by their bits: -0 is not 0, and the NaN of
// an unmeasured metric is the same NaN.
func sameReading(a, b vibemon.Reading) bool {
	if a.DeviceID != b.DeviceID || a.Seq != b.Seq || a.TS != b.TS {
		return false
	}
	for i := range a.Values {
		if math.Float64bits(a.Values[i]) != math.Float64bits(b.Values[i]) {
			return false
		}
	}
	return true
}

// TestDecodeBatchReadError: a body whose reading fails (over the size
// limit, broken gzip) fails with the reader's error, unless the JSON read
// before the failure was already wrong, as when the body was streamed.
func TestDecodeBatchReadError(t *testing.T) {
	tooLarge := &http.MaxBytesError{Limit: 64}
	badGzip := fmt.Errorf("gzip: %w", gzip.ErrChecksum)
	good := `{"readings":[{"device_id":1,"seq":2,"ts":"2026-01-01T00:00:00Z","temp_c":1}`
	for _, tc := range []struct {
		name, prefix string
		err          error
		code, msg    string
	}{
		{"over the limit", good, tooLarge, vibemon.ETOOLARGE, "The body is larger than the limit of 64 bytes."},
		{"over the limit at once", "", tooLarge, vibemon.ETOOLARGE, "The body is larger than the limit of 64 bytes."},
		{"broken gzip", good, badGzip, vibemon.EINVALID, "The body is not valid gzip."},
		{"JSON error first", `{"readings":[x`, tooLarge, vibemon.EINVALID, "Malformed JSON"},
		{"too many readings first", `{"readings":[1,2,3,4`, tooLarge, vibemon.ETOOLARGE, "more than 3 readings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := func() io.Reader { return io.MultiReader(strings.NewReader(tc.prefix), errReader{tc.err}) }
			items, err := decodeBatch(body(), 3)
			if vibemon.ErrorCode(err) != tc.code || !strings.Contains(vibemon.ErrorMessage(err), tc.msg) {
				t.Fatalf("error = %v (%d items), want %s containing %q", err, len(items), tc.code, tc.msg)
			}
			want, wantErr := decodeBatchStream(body(), 3)
			sameBatch(t, []byte(tc.prefix), items, err, want, wantErr)
		})
	}
}
