package anomaly

import (
	"math/rand/v2"
	"testing"
	"time"
)

// reportRate reports rows per wall second and, where the OS tells, rows
// per CPU second of the process (on a shared machine the wall rate
// depends on the neighbours). cpu0 is processCPU() at the start.
func reportRate(b *testing.B, rows int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)*float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)*float64(rows)/cpu.Seconds(), "rows/cpu-s")
	}
}

// benchData returns n rows of d features shaped like the reference
// dataset: a correlated Gaussian mass with 5% uniform anomalies.
func benchData(n, d int) []float64 {
	rng := rand.New(rand.NewPCG(7, 7))
	data := make([]float64, n*d)
	for i := range n {
		row := data[i*d : (i+1)*d]
		if i%20 == 0 {
			for k := range row {
				row[k] = rng.Float64()*12 - 6
			}
			continue
		}
		common := rng.NormFloat64()
		for k := range row {
			row[k] = 0.6*common + 0.8*rng.NormFloat64()
		}
	}
	return data
}

// BenchmarkFit fits 100 trees of ψ = 256 on 100,000 x 8 rows, as the
// sklearn reference does.
func BenchmarkFit(b *testing.B) {
	data := benchData(100_000, 8)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := FitFlat(data, 8, Config{}); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkScoreFlat scores 100,000 x 8 rows with the default forest.
func BenchmarkScoreFlat(b *testing.B) {
	data := benchData(100_000, 8)
	f, err := FitFlat(data, 8, Config{})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, 100_000)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		f.ScoreFlat(dst, data)
	}
	reportRate(b, 100_000, cpu0)
}

// BenchmarkScore scores one row at a time.
func BenchmarkScore(b *testing.B) {
	data := benchData(100_000, 8)
	f, err := FitFlat(data, 8, Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	cpu0 := processCPU()
	for b.Loop() {
		f.Score(data[i*8 : i*8+8])
		i = (i + 1) % 100_000
	}
	reportRate(b, 1, cpu0)
}

// BenchmarkScoreBatch scores 100,000 rows held as [][]float64.
func BenchmarkScoreBatch(b *testing.B) {
	data := benchData(100_000, 8)
	f, err := FitFlat(data, 8, Config{})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, 100_000)
	for i := range rows {
		rows[i] = data[i*8 : (i+1)*8]
	}
	dst := make([]float64, len(rows))
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		f.ScoreBatch(dst, rows)
	}
	reportRate(b, 100_000, cpu0)
}
