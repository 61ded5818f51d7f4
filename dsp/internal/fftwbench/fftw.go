//go:build fftw

package fftwbench

/*
#cgo LDFLAGS: -lfftw3 -lm
#include <fftw3.h>
#include <math.h>

static double *in_buf;
static fftw_complex *out_buf;

static fftw_plan plan_r2c(int n) {
	in_buf = fftw_alloc_real(n);
	out_buf = fftw_alloc_complex(n / 2 + 1);
	fftw_plan p = fftw_plan_dft_r2c_1d(n, in_buf, out_buf, FFTW_MEASURE);
	for (int i = 0; i < n; i++) in_buf[i] = sin((double)i);
	return p;
}

static void run(fftw_plan p) { fftw_execute(p); }

static double out_re(int k) { return out_buf[k][0]; }
static double out_im(int k) { return out_buf[k][1]; }
*/
import "C"

// Plan is an FFTW r2c plan made with FFTW_MEASURE, over buffers it owns
// that hold sin(i).
type Plan struct{ p C.fftw_plan }

// NewPlan plans a real-to-complex transform of n points.
func NewPlan(n int) *Plan { return &Plan{C.plan_r2c(C.int(n))} }

// Execute runs the transform once.
func (p *Plan) Execute() { C.run(p.p) }

// Re returns the real part of output bin k.
func Re(k int) float64 { return float64(C.out_re(C.int(k))) }

// Im returns the imaginary part of output bin k.
func Im(k int) float64 { return float64(C.out_im(C.int(k))) }
