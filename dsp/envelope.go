package dsp

import (
	"math"
	"sync"
)

var plans sync.Map // int -> *FFT; plans are read-only once built

// planFor returns a shared plan of size n.
func planFor(n int) *FFT {
	if p, ok := plans.Load(n); ok {
		return p.(*FFT)
	}
	p, _ := plans.LoadOrStore(n, NewFFT(n))
	return p.(*FFT)
}

// Band is a frequency band, Hz.
type Band struct {
	Lo float64 `json:"lo_hz"`
	Hi float64 `json:"hi_hz"`
}

// Envelope is the result of envelope (demodulation) analysis of one axis.
type Envelope struct {
	Band Band `json:"band"` // demodulated band
	// SK is the spectral kurtosis of the band's complex envelope (0 for
	// Gaussian noise, larger for impulsive content, biased up by a
	// constant from the Hann taper); 0 when the band was given.
	SK       float64   `json:"sk"`
	Chosen   bool      `json:"chosen_by_sk"` // band picked by spectral kurtosis
	DF       float64   `json:"df_hz"`        // bin spacing of Amp
	Segments int       `json:"segments"`
	Amp      []float64 `json:"-"` // squared-envelope spectrum, g², bin k at k·DF
	Floor    []float64 `json:"-"` // median floor of Amp
	Peaks    []Peak    `json:"peaks"`
}

// bandCand is a band of bins [k0, k0+w) of a segment spectrum.
type bandCand struct {
	k0, w  int
	s2, s4 float64
	count  int
}

// envelopeEngine demodulates bands of stored segment spectra: the band's
// bins are shifted to zero frequency and inverse-transformed at a size
// just large enough for them, which yields the complex envelope (the
// analytic signal's magnitude does not change under a frequency shift)
// decimated to the band's own bandwidth. This is the FFT-domain band-pass
// and Hilbert transform in one step, and costs a fraction of a full-size
// inverse FFT.
type envelopeEngine struct {
	cands []bandCand
	buf   []complex128
	zbuf  []complex128 // the envelope transform's output (not in place: no permutation pass)
	store []complex128 // kurtogram: every band's envelope per segment
	off   []int        // kurtogram: offset of each band in store
	odd   []complex128
	tw    map[int][]complex128 // exp(−2πim/w), m < w/2, by w
	env   []float64
	spec  []complex128
}

// kurtogram scores candidate bands by spectral kurtosis over all segments
// and returns the best. Levels are w, 2w and 4w bins wide with bands
// overlapping by half, a coarse STFT-domain kurtogram (Antoni 2006): the
// band with the most impulsive complex envelope is where bearing impacts
// excite a resonance above the noise.
func (e *envelopeEngine) kurtogram(segs [][]complex128, wmin, kLo, kHi int) (bandCand, bool) {
	e.cands = e.cands[:0]
	// Per level: index of its first band and that band's first bin.
	var levStart, levFirst [3]int
	levels := 0
	for w := wmin; w <= 4*wmin && w <= kHi-kLo; w *= 2 {
		levStart[levels] = len(e.cands)
		levFirst[levels] = (kLo + w/2 - 1) / (w / 2) * (w / 2)
		for k0 := levFirst[levels]; k0+w <= kHi; k0 += w / 2 {
			e.cands = append(e.cands, bandCand{k0: k0, w: w})
		}
		levels++
	}
	if len(e.cands) == 0 {
		return bandCand{}, false
	}
	// Every band's envelope (per segment) is kept: a band of 2w bins is
	// two bands of the level below, A and C, so the even outputs of its
	// transform are the sum of theirs (DFT_2w(A|C)[2r] = DFT_w(A)[r] +
	// DFT_w(C)[r]); only the odd outputs need a transform, of (A − C)
	// times exp(−2πim/2w), at half the size. The two upper levels cost
	// less than half of what they did.
	nseg := len(segs)
	total := 0
	for _, c := range e.cands {
		total += c.w * nseg
	}
	e.store = resize(e.store, total)
	e.off = resize(e.off, len(e.cands))
	off := 0
	for i, c := range e.cands {
		e.off[i] = off
		off += c.w * nseg
	}
	for i := range e.cands {
		c := &e.cands[i]
		lev := 0
		for wmin<<lev < c.w {
			lev++
		}
		var ia, ic int
		var tw []complex128
		if lev > 0 {
			q := c.w / 4 // hop of the level below
			ia = levStart[lev-1] + (c.k0-levFirst[lev-1])/q
			ic = ia + 2
			tw = e.twiddles(c.w)
		}
		h := c.w / 2
		p := planFor(c.w)
		if lev > 0 {
			p = planFor(h)
		}
		e.buf = resize(e.buf, c.w)
		e.odd = resize(e.odd, h)
		// Sums in locals (registers), two of each so that an addition
		// need not wait for the previous one (w is even).
		var s2, t2, s4, t4 float64
		for si, X := range segs {
			// A forward transform yields the envelope reversed in time
			// and scaled by w; kurtosis is blind to both, and it saves
			// the inverse's conjugation passes.
			z := e.store[e.off[i]+si*c.w : e.off[i]+(si+1)*c.w]
			if lev == 0 {
				p.Complex(z, X[c.k0:c.k0+c.w])
			} else {
				a := e.store[e.off[ia]+si*h : e.off[ia]+(si+1)*h]
				cc := e.store[e.off[ic]+si*h : e.off[ic]+(si+1)*h]
				in := e.buf[:h]
				xa, xc := X[c.k0:c.k0+h], X[c.k0+h:c.k0+c.w]
				for m := range in {
					in[m] = (xa[m] - xc[m]) * tw[m]
				}
				odd := p.Complex(e.odd, in)
				for r := range h {
					z[2*r] = a[r] + cc[r]
					z[2*r+1] = odd[r]
				}
			}
			for i := 0; i+1 < len(z); i += 2 {
				v, u := z[i], z[i+1]
				m := real(v)*real(v) + imag(v)*imag(v)
				n := real(u)*real(u) + imag(u)*imag(u)
				s2 += m
				t2 += n
				s4 += m * m
				t4 += n * n
			}
			c.count += c.w
		}
		c.s2, c.s4 = s2+t2, s4+t4
	}
	best, bestSK := 0, math.Inf(-1)
	for i, c := range e.cands {
		if c.s2 <= 0 {
			continue
		}
		sk := float64(c.count)*c.s4/(c.s2*c.s2) - 2
		if sk > bestSK {
			best, bestSK = i, sk
		}
	}
	if math.IsInf(bestSK, -1) {
		return bandCand{}, false
	}
	e.cands[best].s2 = bestSK // reuse field to return SK
	return e.cands[best], true
}

// twiddles returns exp(−2πim/w) for m < w/2.
func (e *envelopeEngine) twiddles(w int) []complex128 {
	if t, ok := e.tw[w]; ok {
		return t
	}
	if e.tw == nil {
		e.tw = map[int][]complex128{}
	}
	t := make([]complex128, w/2)
	for m := range t {
		s, c := math.Sincos(-2 * math.Pi * float64(m) / float64(w))
		t[m] = complex(c, s)
	}
	e.tw[w] = t
	return t
}

// spectrum computes the averaged squared-envelope spectrum of band
// [k0, k0+w) into dst.Amp (w+1 bins at the segments' bin spacing).
func (e *envelopeEngine) spectrum(dst *Envelope, segs [][]complex128, k0, w int, df float64) {
	m := 2 * w // zero-padded so |c|², twice as wide as c, does not alias
	inv := planFor(m)
	e.buf = resize(e.buf, m)
	e.zbuf = resize(e.zbuf, m)
	e.env = resize(e.env, m)
	e.spec = resize(e.spec, w+1)
	dst.Amp = resize(dst.Amp, w+1)
	// Locals: through e and dst every store could alias the slice
	// headers, which keeps the loops from registers.
	amp, buf, zbuf, env, spec := dst.Amp, e.buf, e.zbuf, e.env, e.spec
	clear(amp)
	for _, X := range segs {
		copy(buf, X[k0:k0+w])
		clear(buf[w:])
		// Forward instead of inverse: the envelope comes out reversed in
		// time and scaled by m, which changes neither the magnitudes of
		// its spectrum nor anything else used here; the scale is undone
		// below.
		z := inv.Complex(zbuf, buf)
		env := env[:len(z)]
		for i, v := range z {
			env[i] = real(v)*real(v) + imag(v)*imag(v)
		}
		mean := sum(env) / float64(m)
		for i := range env {
			env[i] -= mean
		}
		E := inv.Real(spec, env)
		a := amp[:len(E)]
		for k, v := range E {
			a[k] += real(v)*real(v) + imag(v)*imag(v)
		}
	}
	scale := 2 / float64(m) / (float64(m) * float64(m))
	scale /= math.Sqrt(float64(len(segs))) // the average's division, once
	for k, p := range amp {
		amp[k] = math.Sqrt(p) * scale
	}
	// The Hann taper of the segments leaves its own shape (a few bins
	// wide) at the bottom of the envelope spectrum; those bins carry no
	// defect information.
	for k := 0; k < min(3, len(dst.Amp)); k++ {
		dst.Amp[k] = 0
	}
	dst.DF = df
	dst.Segments = len(segs)
}
