package dsp

import (
	"fmt"
	"math"
	"strings"
)

// Bearing is the geometry of a rolling-element bearing that sets its
// defect frequencies. Lengths are in any one unit (only ratios matter).
type Bearing struct {
	Designation  string  `json:"designation,omitempty"`
	Elements     int     `json:"elements"`          // rolling elements per row
	BallDiameter float64 `json:"ball_diameter"`     // d
	PitchDiam    float64 `json:"pitch_diameter"`    // D
	ContactAngle float64 `json:"contact_angle_deg"` // degrees
	// Estimated is true when the maker's exact internal geometry is not
	// published and the values were derived; see Source.
	Estimated bool   `json:"estimated"`
	Source    string `json:"source,omitempty"`
}

// Validate reports the first implausible field.
func (b Bearing) Validate() error {
	switch {
	case b.Elements < 3:
		return fmt.Errorf("bearing: elements %d, want at least 3", b.Elements)
	case b.BallDiameter <= 0 || b.PitchDiam <= 0:
		return fmt.Errorf("bearing: ball and pitch diameters must be positive")
	case b.BallDiameter >= b.PitchDiam:
		return fmt.Errorf("bearing: ball diameter %g is not smaller than pitch diameter %g", b.BallDiameter, b.PitchDiam)
	case b.ContactAngle < 0 || b.ContactAngle >= 90:
		return fmt.Errorf("bearing: contact angle %g° outside [0, 90)", b.ContactAngle)
	}
	return nil
}

// FaultOrders are a bearing's defect frequencies as multiples of the shaft
// frequency, for a rotating inner ring and a stationary outer ring.
type FaultOrders struct {
	BPFO float64 `json:"bpfo"` // ball pass frequency, outer race
	BPFI float64 `json:"bpfi"` // ball pass frequency, inner race
	BSF  float64 `json:"bsf"`  // ball spin frequency (one contact per spin; a ball defect strikes twice)
	FTF  float64 `json:"ftf"`  // fundamental train (cage) frequency
}

// Orders returns the standard kinematic defect orders, with r = d/D·cos α:
// FTF = (1 - r)/2, BPFO = n·FTF, BPFI = n(1 + r)/2,
// BSF = D/(2d)·(1 - r²). They assume rolling without slip; real bearings
// run 1–2 % slower, which the diagnosis allows for.
func (b Bearing) Orders() FaultOrders {
	r := b.BallDiameter / b.PitchDiam * math.Cos(b.ContactAngle*math.Pi/180)
	n := float64(b.Elements)
	return FaultOrders{
		BPFO: n / 2 * (1 - r),
		BPFI: n / 2 * (1 + r),
		BSF:  b.PitchDiam / (2 * b.BallDiameter) * (1 - r*r),
		FTF:  (1 - r) / 2,
	}
}

// Hz returns the orders times the shaft frequency.
func (o FaultOrders) Hz(shaftHz float64) FaultOrders {
	return FaultOrders{o.BPFO * shaftHz, o.BPFI * shaftHz, o.BSF * shaftHz, o.FTF * shaftHz}
}

const inch = 25.4

// catalogue holds common bearings. Lengths in mm. Where the maker's
// internal geometry is not published, the pitch diameter is the mean of
// bore and outside diameter (exact to a few percent for these series) and
// the element count and size are those usual for the series in standard
// inch ball sizes; such entries are marked Estimated and their orders are
// good to about 2 %, inside the slip tolerance the diagnosis uses anyway.
var catalogue = map[string]Bearing{
	// CWRU Bearing Data Center, drive-end bearing SKF 6205-2RS JEM:
	// 9 balls, 0.3126 in, pitch 1.537 in.
	"6205": {Designation: "6205", Elements: 9, BallDiameter: 0.3126 * inch, PitchDiam: 1.537 * inch,
		Source: "CWRU Bearing Data Center, SKF 6205-2RS JEM (drive end)"},
	// CWRU Bearing Data Center, fan-end bearing SKF 6203-2RS JEM:
	// 8 balls, 0.2656 in, pitch 1.122 in.
	"6203": {Designation: "6203", Elements: 8, BallDiameter: 0.2656 * inch, PitchDiam: 1.122 * inch,
		Source: "CWRU Bearing Data Center, SKF 6203-2RS JEM (fan end)"},
	// 20×47×14: 8 balls of 5/16 in (7.938 mm) as in common 6204 builds;
	// pitch = (20+47)/2.
	"6204": {Designation: "6204", Elements: 8, BallDiameter: 7.938, PitchDiam: 33.5, Estimated: true,
		Source: "estimated: pitch = (bore+OD)/2, 8 × 5/16 in balls typical for 6204"},
	// 30×62×16: 9 balls of 3/8 in (9.525 mm); pitch = (30+62)/2.
	"6206": {Designation: "6206", Elements: 9, BallDiameter: 9.525, PitchDiam: 46, Estimated: true,
		Source: "estimated: pitch = (bore+OD)/2, 9 × 3/8 in balls typical for 6206"},
	// 25×62×17: 8 balls of 13/32 in (10.319 mm); pitch = (25+62)/2.
	"6305": {Designation: "6305", Elements: 8, BallDiameter: 10.319, PitchDiam: 43.5, Estimated: true,
		Source: "estimated: pitch = (bore+OD)/2, 8 × 13/32 in balls typical for 6305"},
	// 40×90×23: 8 balls of 19/32 in (15.081 mm); pitch = (40+90)/2.
	"6308": {Designation: "6308", Elements: 8, BallDiameter: 15.081, PitchDiam: 65, Estimated: true,
		Source: "estimated: pitch = (bore+OD)/2, 8 × 19/32 in balls typical for 6308"},
	// 50×90×23 spherical roller bearing, two rows. Per row: about 17
	// rollers of about 10.5 mm, contact angle about 9° (series 222 rows sit
	// at roughly 9–11°); pitch = (50+90)/2. Only the per-row values enter
	// the formulas.
	"22210": {Designation: "22210", Elements: 17, BallDiameter: 10.5, PitchDiam: 70, ContactAngle: 9, Estimated: true,
		Source: "estimated: pitch = (bore+OD)/2, per-row roller count, size and angle typical for series 222"},
}

// LookupBearing returns the catalogue geometry for a designation such as
// "6205", "6205-2RS" or "SKF 6205-2RS JEM" (maker prefix and seal or
// clearance suffixes are ignored).
func LookupBearing(designation string) (Bearing, bool) {
	s := strings.ToUpper(strings.TrimSpace(designation))
	for _, maker := range []string{"SKF", "FAG", "NSK", "NTN", "TIMKEN", "KOYO"} {
		s = strings.TrimSpace(strings.TrimPrefix(s, maker))
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	b, ok := catalogue[s[:end]]
	return b, ok
}

// BearingDesignations returns the designations in the catalogue.
func BearingDesignations() []string {
	out := make([]string, 0, len(catalogue))
	for k := range catalogue {
		out = append(out, k)
	}
	return out
}
