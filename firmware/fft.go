package firmware

import "math"

// fft32 is an in-place iterative radix-2 complex FFT in float32, small
// enough for a microcontroller: two twiddle tables of n/2 values.
type fft32 struct {
	n        int
	cos, sin []float32
}

func newFFT32(n int) *fft32 {
	f := &fft32{n: n, cos: make([]float32, n/2), sin: make([]float32, n/2)}
	for k := range f.cos {
		a := -2 * math.Pi * float64(k) / float64(n)
		f.cos[k], f.sin[k] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	return f
}

// transform replaces (re, im) by its discrete Fourier transform.
func (f *fft32) transform(re, im []float32) {
	n := f.n
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			re[i], re[j] = re[j], re[i]
			im[i], im[j] = im[j], im[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				c, s := f.cos[k*step], f.sin[k*step]
				a, b := start+k, start+k+half
				tr := re[b]*c - im[b]*s
				ti := re[b]*s + im[b]*c
				re[b], im[b] = re[a]-tr, im[a]-ti
				re[a] += tr
				im[a] += ti
			}
		}
	}
}
