package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/vibemon/vibemon"
)

// benchBatch is a batch of n readings with all 18 metrics. digits is how
// many significant digits the values have: the gateway sends 7
// (strconv 'g', 7); the simulator and `vibemon bench ingest` send the
// shortest exact form of a random float64, usually 16-17 (-1 here).
func benchBatch(n, digits int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var body bytes.Buffer
	body.WriteString(`{"readings":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"device_id":%d,"seq":%d,"ts":"2025-06-01T11:59:00.123Z"`, i%100+1, i)
		for m := range vibemon.NumMetrics {
			lo, hi := vibemon.Metric(m).Range()
			v := lo + (hi-lo)*0.05*rng.Float64()
			fmt.Fprintf(&body, `,"%s":%s`, vibemon.Metric(m), strconv.FormatFloat(v, 'g', digits, 64))
		}
		body.WriteByte('}')
	}
	body.WriteString(`]}`)
	return body.Bytes()
}

// BenchmarkDecodeBatch decodes a 1,000-reading batch with the server's
// decoder (scan) and the reference streaming decoder (stream) in the same
// run, so that the two are compared on equal terms, for values as the
// gateway sends them (7 digits) and as the simulator does (17).
// cpu-ns/reading is the process's CPU time (garbage collection included),
// steadier than wall time when other work shares the cores.
func BenchmarkDecodeBatch(b *testing.B) {
	const n = 1000
	for _, shape := range []struct {
		name   string
		digits int
	}{{"gateway", 7}, {"digits17", -1}} {
		data := benchBatch(n, shape.digits)
		for _, dec := range []struct {
			name   string
			decode func(io.Reader, int) ([]batchItem, error)
		}{{"scan", decodeBatch}, {"stream", decodeBatchStream}} {
			b.Run(shape.name+"/"+dec.name, func(b *testing.B) {
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
}
