package anomaly

import (
	"math/rand/v2"
	"testing"
)

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
	for b.Loop() {
		if _, err := FitFlat(data, 8, Config{}); err != nil {
			b.Fatal(err)
		}
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
	for b.Loop() {
		f.ScoreFlat(dst, data)
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "rows/s")
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
	for b.Loop() {
		f.Score(data[i*8 : i*8+8])
		i = (i + 1) % 100_000
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
