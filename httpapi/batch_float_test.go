package httpapi

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkNumber asserts that a JSON number decodes to ParseFloat's value and
// error, bit for bit.
func checkNumber(t *testing.T, s string) {
	t.Helper()
	sc := batchScanner{b: []byte(s)}
	n, ok := sc.num()
	if !ok || sc.i != len(s) {
		t.Fatalf("%q: not read as one number", s)
	}
	got, gotErr := n.float(sc.b)
	want, wantErr := strconv.ParseFloat(s, 64)
	if math.Float64bits(got) != math.Float64bits(want) || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q = %v (%v), ParseFloat %v (%v)", s, got, gotErr, want, wantErr)
	}
}

// TestBatchNumber compares the batch decoder's number conversion with
// strconv.ParseFloat on random numbers of every shape: shortest forms of
// random float64s (as the simulator sends), 7 digits (as the gateway
// does), all precisions, long mantissas, exponents past the fast paths'
// tables, halfway cases, subnormals and overflow.
func TestBatchNumber(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "0.0", "-0.0e-0", "0e999", "-0e-999", "1", "-1", "9007199254740992", "9007199254740993",
		"9007199254740993e-5", "1e22", "1e23", "1e-22", "1e-23", "123456789012345678", "1234567890123456789",
		"12345678901234567890", "18446744073709551615", "18446744073709551616", "4.9e-324", "5e-324", "2e-324",
		"2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623159e308",
		"1e400", "-1e400", "1e-400", "1e64", "1e65", "1e-64", "1e-65", "0.1", "0.2", "0.3", "3.71", "-67",
		"2.5", "9007199254740993.0", "0.30000000000000004", "1.00000000000000011102230246251565404236316680908203125",
		"1.0000000000000001110223024625156540423631668090820312", "7.038531e-26", "1" + strings.Repeat("0", 30),
		"0." + strings.Repeat("0", 30) + "1", "1E+2", "1e+0002", "123e-10000", "123e10000",
	} {
		checkNumber(t, s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var s string
		switch rng.IntN(4) {
		case 0:
			f := math.Float64frombits(rng.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			s = strconv.FormatFloat(f, 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(20)-10)), 'g', -1, 64)
		case 2:
			s = strconv.FormatFloat(rng.NormFloat64()*100, "eEfg"[rng.IntN(4)], rng.IntN(22), 64)
		default:
			var b strings.Builder
			if rng.IntN(2) == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(byte('1' + rng.IntN(9)))
			for range rng.IntN(24) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			if rng.IntN(2) == 0 {
				b.WriteByte('.')
				for range 1 + rng.IntN(20) {
					b.WriteByte(byte('0' + rng.IntN(10)))
				}
			}
			if rng.IntN(2) == 0 {
				b.WriteString("e" + strconv.Itoa(rng.IntN(180)-90))
			}
			s = b.String()
		}
		checkNumber(t, s)
	}
}

// FuzzBatchNumber holds the number conversion to strconv.ParseFloat on any
// JSON number.
func FuzzBatchNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.5", "3.71", "-67", "9007199254740993", "0.30000000000000004", "1e23",
		"2.2250738585072011e-308", "1.7976931348623159e308", "4.9e-324", "12345678901234567890e-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := batchScanner{b: []byte(s)}
		if _, ok := sc.num(); !ok || sc.i != len(s) {
			return
		}
		checkNumber(t, s)
	})
}
