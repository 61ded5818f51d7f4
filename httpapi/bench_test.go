package httpapi

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkDecodeBatch decodes a 1,000-reading batch with all 18 metrics,
// the shape the gateway sends.
func BenchmarkDecodeBatch(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"readings":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"device_id":%d,"seq":%d,"ts":"2025-06-01T11:59:00.123Z","acc_rms_x":0.12,"acc_rms_y":0.1,"acc_rms_z":0.3,"acc_peak_x":0.5,"acc_peak_y":0.4,"acc_peak_z":0.9,"vel_rms_x":2.1,"vel_rms_y":1.9,"vel_rms_z":3.3,"crest_x":3.1,"crest_y":3.2,"crest_z":3.0,"kurtosis_x":3.1,"kurtosis_y":2.9,"kurtosis_z":3.4,"temp_c":41.5,"battery_v":3.71,"rssi_dbm":-67}`, i%100+1, i)
	}
	body.WriteString(`]}`)
	data := body.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := decodeBatch(bytes.NewReader(data), 5000)
		if err != nil || len(items) != 1000 || items[999].err != nil {
			b.Fatalf("decode: %v, %d items", err, len(items))
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "readings/s")
}
