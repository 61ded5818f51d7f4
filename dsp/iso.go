package dsp

import "fmt"

// Zone is an ISO 10816-3 evaluation zone: A newly commissioned, B
// unrestricted long-term operation, C restricted operation, D damage.
type Zone string

// Zones.
const (
	ZoneA Zone = "A"
	ZoneB Zone = "B"
	ZoneC Zone = "C"
	ZoneD Zone = "D"
)

// ZoneLimits are the velocity RMS boundaries between zones, mm/s.
type ZoneLimits struct {
	AB, BC, CD float64
}

// ISOLimits returns the ISO 10816-3 zone boundaries (velocity RMS,
// 10–1000 Hz) for machine group 1 (300 kW–50 MW) or 2 (15–300 kW) on a
// rigid or flexible foundation.
func ISOLimits(group int, flexible bool) (ZoneLimits, error) {
	switch {
	case group == 1 && !flexible:
		return ZoneLimits{2.3, 4.5, 7.1}, nil
	case group == 1 && flexible:
		return ZoneLimits{3.5, 7.1, 11.0}, nil
	case group == 2 && !flexible:
		return ZoneLimits{1.4, 2.8, 4.5}, nil
	case group == 2 && flexible:
		return ZoneLimits{2.3, 4.5, 7.1}, nil
	}
	return ZoneLimits{}, fmt.Errorf("iso limits: group %d, want 1 or 2", group)
}

// Zone returns the zone of a velocity RMS value; a value on a boundary
// belongs to the worse zone.
func (l ZoneLimits) Zone(velRMS float64) Zone {
	switch {
	case velRMS >= l.CD:
		return ZoneD
	case velRMS >= l.BC:
		return ZoneC
	case velRMS >= l.AB:
		return ZoneB
	}
	return ZoneA
}

// AlarmTrip returns operational limits from a machine's baseline velocity
// RMS following ISO 10816-3 clauses 5.3 and 5.4: ALARM = baseline + 25 % of
// the B/C boundary, but not above 1.25 × B/C; TRIP = tripFactor × C/D,
// where tripFactor is clamped to [1, 1.25] (the standard allows up to 1.25;
// 0 means 1, the conservative choice). A baseline of 0 (unknown) gives
// ALARM = B/C, the usual choice when no baseline exists yet.
func (l ZoneLimits) AlarmTrip(baseline, tripFactor float64) (alarm, trip float64) {
	if baseline <= 0 {
		alarm = l.BC
	} else {
		alarm = min(baseline+0.25*l.BC, 1.25*l.BC)
	}
	if tripFactor == 0 {
		tripFactor = 1
	}
	tripFactor = max(1, min(1.25, tripFactor))
	return alarm, tripFactor * l.CD
}
