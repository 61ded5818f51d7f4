package httpapi

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Numbers of a batch are parsed here rather than by strconv.ParseFloat,
// whose general parse (underscores, hex, "inf", ...) costs more than the
// conversion itself: a gateway sends 18 numbers per reading. The result
// is always ParseFloat's, bit for bit: both paths below are exact or
// correctly rounded, as ParseFloat is, and whatever they cannot decide
// goes to ParseFloat. FuzzBatchNumber and FuzzDecodeBatchSame check it.

// number is what the fast paths need of a number as scanned: its decimal
// mantissa while it has at most 19 significant digits, and its power of
// ten.
type number struct {
	mant    uint64
	exp, nd int // power of ten, significant digits
	neg     bool
}

func (n *number) digit(c byte) {
	if n.mant != 0 || c != '0' {
		n.mant = n.mant*10 + uint64(c-'0')
		n.nd++
	}
}

// float returns strconv.ParseFloat(v, 64) for the number n read from v.
func (n *number) float(v []byte) (float64, error) {
	if n.nd <= 19 {
		if n.mant == 0 {
			if n.neg {
				return math.Copysign(0, -1), nil
			}
			return 0, nil
		}
		// A mantissa below 2^53 and a power of ten up to 22 either way
		// are exact as float64, so one multiplication or division rounds
		// correctly (ParseFloat's first path too).
		if n.mant < 1<<53 && -22 <= n.exp && n.exp <= 22 {
			f := float64(n.mant)
			if n.exp >= 0 {
				f *= float64pow10[n.exp]
			} else {
				f /= float64pow10[-n.exp]
			}
			if n.neg {
				f = -f
			}
			return f, nil
		}
		if f, ok := eiselLemire64(n.mant, n.exp, n.neg); ok {
			return f, nil
		}
	}
	return strconv.ParseFloat(str0(v), 64)
}

// float64pow10 holds the powers of ten that are exact as float64.
var float64pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
	1e20, 1e21, 1e22,
}

// The powers of ten eiselLemire64 knows: values of sensors, far from the
// ends of float64's range. Others go to ParseFloat.
const (
	pow10Min = -64
	pow10Max = 64
)

// pow10Tab[e-pow10Min] is 10^e's mantissa to 128 bits, scaled so that its
// top bit is set and rounded down, as Eisel-Lemire requires (and as Go's
// strconv tabulates it; computed here, exactly, instead of copied).
var pow10Tab = func() (t [pow10Max - pow10Min + 1]struct{ hi, lo uint64 }) {
	mask := new(big.Int).SetUint64(math.MaxUint64)
	ten := big.NewInt(10)
	for e := pow10Min; e <= pow10Max; e++ {
		var m *big.Int
		if e >= 0 {
			m = new(big.Int).Exp(ten, big.NewInt(int64(e)), nil)
			if l := m.BitLen(); l <= 128 {
				m.Lsh(m, uint(128-l))
			} else {
				m.Rsh(m, uint(l-128))
			}
		} else {
			p := new(big.Int).Exp(ten, big.NewInt(int64(-e)), nil)
			// 2^(L-1) < p < 2^L, so 2^(127+L)/p lies in (2^127, 2^128).
			m = new(big.Int).Lsh(big.NewInt(1), uint(127+p.BitLen()))
			m.Quo(m, p)
		}
		t[e-pow10Min].hi = new(big.Int).Rsh(m, 64).Uint64()
		t[e-pow10Min].lo = new(big.Int).And(m, mask).Uint64()
	}
	return t
}()

// eiselLemire64 is the Eisel-Lemire algorithm as Go's strconv implements
// it (src/internal/strconv/atofeisel.go, BSD licence, the Go Authors;
// https://nigeltao.github.io/blog/2020/eisel-lemire.html): man * 10^exp10
// correctly rounded, or ok=false when it cannot decide (then ParseFloat
// does). man must not be 0.
func eiselLemire64(man uint64, exp10 int, neg bool) (f float64, ok bool) {
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	pow := pow10Tab[exp10-pow10Min]
	exp2 := 1 + (exp10*108853)>>15 // 1 + floor(exp10 * log2(10))

	// Normalization.
	clz := bits.LeadingZeros64(man)
	man <<= uint(clz)
	retExp2 := uint64(exp2+63+1023) - uint64(clz)

	// Multiplication.
	xHi, xLo := bits.Mul64(man, pow.hi)

	// Wider Approximation.
	if xHi&0x1FF == 0x1FF && xLo+man < man {
		yHi, yLo := bits.Mul64(man, pow.lo)
		mergedHi, mergedLo := xHi, xLo+yHi
		if mergedLo < xLo {
			mergedHi++
		}
		if mergedHi&0x1FF == 0x1FF && mergedLo+1 == 0 && yLo+man < man {
			return 0, false
		}
		xHi, xLo = mergedHi, mergedLo
	}

	// Shifting to 54 Bits.
	msb := xHi >> 63
	retMantissa := xHi >> (msb + 9)
	retExp2 -= 1 ^ msb

	// Half-way Ambiguity.
	if xLo == 0 && xHi&0x1FF == 0 && retMantissa&3 == 1 {
		return 0, false
	}

	// From 54 to 53 Bits.
	retMantissa += retMantissa & 1
	retMantissa >>= 1
	if retMantissa>>53 > 0 {
		retMantissa >>= 1
		retExp2 += 1
	}
	// Zero or underflow: subnormal; 0x7FF or above: Inf.
	if retExp2-1 >= 0x7FF-1 {
		return 0, false
	}
	retBits := retExp2<<52 | retMantissa&(1<<52-1)
	if neg {
		retBits |= 1 << 63
	}
	return math.Float64frombits(retBits), true
}
