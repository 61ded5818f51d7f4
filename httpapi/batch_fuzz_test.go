package httpapi

import (
	"bytes"
	"encoding/json"
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
