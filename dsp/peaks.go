package dsp

import "math"

// Peak is a spectral line: a local maximum of an amplitude spectrum that
// stands above the noise floor.
type Peak struct {
	Freq  float64 `json:"freq_hz"` // interpolated frequency, Hz
	Amp   float64 `json:"amp"`     // amplitude corrected for scalloping, input unit
	DB    float64 `json:"db"`      // height over the median floor, dB
	Order float64 `json:"order"`   // Freq / shaft frequency; 0 when unknown
	Bin   int     `json:"bin"`     // bin of the local maximum
	Floor float64 `json:"floor"`   // floor amplitude at the peak
}

// PeakOptions bounds a peak search. The zero value searches the whole
// spectrum for peaks at least 6 dB over the floor and keeps the 20 highest.
type PeakOptions struct {
	MinHz, MaxHz float64 // search range; MaxHz 0 means up to the last bin
	MinDB        float64 // minimum height over the floor, dB; 0 means 6
	Max          int     // most peaks kept, highest first; 0 means 20
	ShaftHz      float64 // shaft frequency for orders; 0 leaves Order 0
}

// FindPeaks appends to dst[:0] the local maxima of amp (bin spacing df)
// that rise at least MinDB over floor, highest over the floor first, and
// returns it. Frequencies are refined by Gaussian (log-parabolic)
// interpolation over the three top bins, which is nearly exact for a Hann
// window's main lobe, and amplitudes are corrected for the window's
// scalloping loss at the refined position.
//
// 6 dB is the default height because a bin of a single Hann periodogram of
// noise exceeds 4× its median power with probability 2⁻⁴: a lower limit
// would list noise, a higher one would hide real but modest lines.
func FindPeaks(dst []Peak, amp, floor []float64, df float64, o PeakOptions) []Peak {
	dst = dst[:0]
	minDB := o.MinDB
	if minDB == 0 {
		minDB = 6
	}
	maxN := o.Max
	if maxN == 0 {
		maxN = 20
	}
	lo := max(1, int(math.Ceil(o.MinHz/df)))
	hi := len(amp) - 2
	if o.MaxHz > 0 {
		hi = min(hi, int(o.MaxHz/df))
	}
	ratio := math.Pow(10, minDB/20)
	// Keep the maxN highest candidates by their amplitude ratio over the
	// floor (the ordering key: dB is monotone in it; ties go to the lower
	// bin), in order, by insertion into a short sorted list: most local
	// maxima are below the weakest kept one and cost one comparison. Only
	// the kept ones pay for the logarithm of dB and the interpolation.
	for k := lo; k <= hi; k++ {
		a := amp[k]
		// Most bins are below the level: that test first, as it is the
		// predictable one.
		if a < ratio*floor[k] || a <= amp[k-1] || a < amp[k+1] || floor[k] <= 0 {
			continue
		}
		r := a / floor[k]
		n := len(dst)
		if n == maxN {
			if r <= dst[n-1].DB {
				continue // bins ascend: an equal ratio at a higher bin ranks below
			}
			n--
		} else {
			dst = append(dst, Peak{})
		}
		i := n
		for i > 0 && dst[i-1].DB < r {
			dst[i] = dst[i-1]
			i--
		}
		dst[i] = Peak{Bin: k, DB: r}
	}
	for i := range dst {
		k := dst[i].Bin
		p := refinePeak(amp, k, df)
		p.DB = 20 * math.Log10(amp[k]/floor[k])
		p.Floor = floor[k]
		if o.ShaftHz > 0 {
			p.Order = p.Freq / o.ShaftHz
		}
		dst[i] = p
	}
	return dst
}

// refinePeak interpolates the peak at bin k.
func refinePeak(amp []float64, k int, df float64) Peak {
	p := Peak{Bin: k, Freq: float64(k) * df, Amp: amp[k]}
	if k < 1 || k+1 >= len(amp) {
		return p
	}
	a, b, c := amp[k-1], amp[k], amp[k+1]
	if a <= 0 || b <= 0 || c <= 0 {
		return p
	}
	la, lb, lc := math.Log(a), math.Log(b), math.Log(c)
	den := la - 2*lb + lc
	if den >= 0 {
		return p
	}
	d := 0.5 * (la - lc) / den
	d = max(-0.5, min(0.5, d))
	p.Freq = (float64(k) + d) * df
	p.Amp = b / hannResponse(d)
	return p
}

// lineAt returns the strongest local maximum of amp within
// [f-tol, f+tol] and its height over floor in dB. Only a local maximum is
// a line: a bin on the skirt of a neighbouring line's window response is
// not. When the window holds no local maximum, the nearest bin is returned
// with its (low) height. found is false when the window is outside amp.
func lineAt(amp, floor []float64, df, f, tol float64) (k int, db float64, found bool) {
	c := int(math.Round(f / df))
	if c < 1 || c >= len(amp) {
		return 0, 0, false
	}
	lo := max(1, int(math.Ceil((f-tol)/df)))
	hi := min(len(amp)-2, int(math.Floor((f+tol)/df)))
	k = -1
	for i := lo; i <= hi; i++ {
		if amp[i] >= amp[i-1] && amp[i] >= amp[i+1] && (k < 0 || amp[i] > amp[k]) {
			k = i
		}
	}
	if k < 0 {
		k = c
	}
	if floor[k] <= 0 || amp[k] <= 0 {
		return k, 0, true
	}
	return k, 20 * math.Log10(amp[k]/floor[k]), true
}
