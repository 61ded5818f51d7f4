// Package fftwbench benchmarks FFTW's real-to-complex transform for
// comparison with dsp.FFT. It is built only with the fftw build tag and
// needs libfftw3-dev (apt-get install -y libfftw3-dev):
//
//	go test -tags fftw -bench . ./dsp/internal/fftwbench/
//
// Nothing in the product imports it; CI never builds it.
package fftwbench
