package redis

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/vibemon/vibemon"
)

func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		events []vibemon.Event
	}{
		{"empty call", []vibemon.Event{}},
		{"known types", []vibemon.Event{
			{Type: vibemon.EventReading, OrgID: 1, DeviceID: 2, AssetID: 3, Data: json.RawMessage(`{"v":1}`)},
			{Type: vibemon.EventAlert, OrgID: 1 << 40, DeviceID: 5, Data: json.RawMessage(`{"m":"caf\u00e9"}`)},
			{Type: vibemon.EventPresence, OrgID: 9, DeviceID: 14, AssetID: 15, Data: json.RawMessage(`{"online":false}`)},
		}},
		{"other type, nil data, negative ids", []vibemon.Event{
			{Type: "analysis", OrgID: -1, DeviceID: -2, AssetID: 0},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeEvents(string(appendEvents(nil, c.events)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.events) {
				t.Errorf("round trip = %+v, want %+v", got, c.events)
			}
		})
	}
}

func TestCodecRejectsCorruptMessages(t *testing.T) {
	msg := appendEvents(nil, []vibemon.Event{
		{Type: "custom", OrgID: 300, DeviceID: 2, AssetID: 3, Data: json.RawMessage(`{"v":1}`)},
		{Type: vibemon.EventReading, OrgID: 1, DeviceID: 2, AssetID: 3, Data: json.RawMessage(`{"v":2}`)},
	})
	// Every truncation is an error, never a panic or a short read.
	for n := range len(msg) {
		if _, err := decodeEvents(string(msg[:n])); err == nil {
			t.Errorf("decoding the first %d of %d bytes: got nil error, want one", n, len(msg))
		}
	}
	for _, bad := range []string{"", `[{"type":"reading"}]`, string(append(msg[:len(msg):len(msg)], 0))} {
		if _, err := decodeEvents(bad); err == nil {
			t.Errorf("decodeEvents(%q): got nil error, want one", bad)
		}
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(string(appendEvents(nil, []vibemon.Event{{Type: "x", OrgID: 1, Data: json.RawMessage(`{}`)}})))
	f.Fuzz(func(t *testing.T, msg string) {
		events, err := decodeEvents(msg)
		if err != nil {
			return
		}
		again, err := decodeEvents(string(appendEvents(nil, events)))
		if err != nil || !reflect.DeepEqual(again, events) {
			t.Fatalf("re-encoding %+v: %+v, %v", events, again, err)
		}
	})
}

func batch(n int) []vibemon.Event {
	events := make([]vibemon.Event, n)
	for i := range events {
		events[i] = vibemon.Event{Type: vibemon.EventReading, OrgID: 1, DeviceID: int64(i%50 + 1), AssetID: 3,
			Data: json.RawMessage(fmt.Sprintf(`{"ts":"2025-01-02T03:04:05.123Z","seq":%d,"values":{"acc_rms_x":0.251,"acc_rms_y":0.244,"acc_rms_z":0.198,"vel_rms_x":1.52,"vel_rms_y":1.48,"vel_rms_z":1.1,"temp_c":41.5}}`, i))}
	}
	return events
}

// BenchmarkCodec compares the bus framing with JSON of []vibemon.Event for
// a batch of 100 reading events, encode and decode.
func BenchmarkCodec(b *testing.B) {
	events := batch(100)
	b.Run("binary", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = appendEvents(buf[:0], events)
			if _, err := decodeEvents(string(buf)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf))/100, "bytes/event")
	})
	b.Run("json", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			buf, err = json.Marshal(events)
			if err != nil {
				b.Fatal(err)
			}
			var got []vibemon.Event
			if err := json.Unmarshal(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf))/100, "bytes/event")
	})
}
