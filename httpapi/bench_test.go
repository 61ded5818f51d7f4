package httpapi

import (
	"encoding/json"
	"testing"
)

func BenchmarkParseReading(b *testing.B) {
	raw := json.RawMessage(`{"device_id":12,"seq":123456,"ts":"2025-06-01T11:59:00.123Z","acc_rms_x":0.12,"acc_rms_y":0.1,"acc_rms_z":0.3,"vel_rms_x":2.1,"vel_rms_y":1.9,"vel_rms_z":3.3,"temp_c":41.5,"battery_v":3.71,"rssi_dbm":-67}`)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseReading(raw); err != nil {
			b.Fatal(err)
		}
	}
}
