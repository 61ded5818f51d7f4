package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchBatch is a batch of n readings with all 18 metrics, the shape the
// gateway sends.
func benchBatch(n int) []byte {
	var body bytes.Buffer
	body.WriteString(`{"readings":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"device_id":%d,"seq":%d,"ts":"2025-06-01T11:59:00.123Z","acc_rms_x":0.12,"acc_rms_y":0.1,"acc_rms_z":0.3,"acc_peak_x":0.5,"acc_peak_y":0.4,"acc_peak_z":0.9,"vel_rms_x":2.1,"vel_rms_y":1.9,"vel_rms_z":3.3,"crest_x":3.1,"crest_y":3.2,"crest_z":3.0,"kurtosis_x":3.1,"kurtosis_y":2.9,"kurtosis_z":3.4,"temp_c":41.5,"battery_v":3.71,"rssi_dbm":-67}`, i%100+1, i)
	}
	body.WriteString(`]}`)
	return body.Bytes()
}

// BenchmarkDecodeBatch decodes a 1,000-reading batch with the server's
// decoder (scan) and the reference streaming decoder (stream) in the same
// run, so that the two are compared on equal terms. cpu-ns/reading is the
// process's CPU time (garbage collection included), steadier than wall
// time when other work shares the cores.
func BenchmarkDecodeBatch(b *testing.B) {
	const n = 1000
	data := benchBatch(n)
	for _, dec := range []struct {
		name   string
		decode func(io.Reader, int) ([]batchItem, error)
	}{{"scan", decodeBatch}, {"stream", decodeBatchStream}} {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				items, err := dec.decode(bytes.NewReader(data), 5000)
				if err != nil || len(items) != n || items[n-1].err != nil {
					b.Fatalf("decode: %v, %d items", err, len(items))
				}
			}
			if cpu > 0 {
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N*n), "cpu-ns/reading")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
			b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "readings/s")
		})
	}
}
