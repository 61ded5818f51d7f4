package vibemon

import (
	"context"
	"math"
	"time"
)

// Reading is one feature summary from a sensor node. A reading is
// identified by (DeviceID, Seq): the node numbers its readings, so a batch
// sent twice stores each reading once.
type Reading struct {
	DeviceID int64
	Seq      int64
	TS       time.Time
	// Values holds one value per Metric; NaN means "not measured".
	Values [NumMetrics]float64
}

// MaxSeq is the largest sequence number: nodes count with 32 bits.
const MaxSeq = 1<<32 - 1

// NewReading returns a reading with every value unset (NaN).
func NewReading(deviceID, seq int64, ts time.Time) Reading {
	r := Reading{DeviceID: deviceID, Seq: seq, TS: ts}
	for i := range r.Values {
		r.Values[i] = math.NaN()
	}
	return r
}

// Validate checks a reading received at now. Timestamps may lag (a gateway
// syncs its offline queue days later) but not lead by more than an hour,
// because a clock that far ahead would hide newer data behind it.
func (r *Reading) Validate(now time.Time) error {
	if r.DeviceID <= 0 {
		return Errorf(EINVALID, "device_id must be a positive id.")
	}
	if r.Seq < 0 || r.Seq > MaxSeq {
		return Errorf(EINVALID, "seq must be between 0 and %d.", int64(MaxSeq))
	}
	if r.TS.Before(minReadingTime) {
		return Errorf(EINVALID, "ts %s is before 2000-01-01; is the node's clock set?", r.TS.UTC().Format(time.RFC3339))
	}
	if r.TS.After(now.Add(time.Hour)) {
		return Errorf(EINVALID, "ts %s is more than an hour in the future; check the node's clock.", r.TS.UTC().Format(time.RFC3339))
	}
	any := false
	for i, v := range r.Values {
		if math.IsNaN(v) {
			continue
		}
		any = true
		m := Metric(i)
		lo, hi := m.Range()
		if math.IsInf(v, 0) || v < lo || v > hi {
			return Errorf(EINVALID, "%s = %g is outside %g..%g.", m, v, lo, hi)
		}
	}
	if !any {
		return Errorf(EINVALID, "the reading has no metric values.")
	}
	return nil
}

var minReadingTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Bucket is the time resolution of a telemetry query.
type Bucket string

// Buckets. Raw returns stored readings; the others return rollups, kept up
// to date at ingest so that long ranges never scan raw rows.
const (
	BucketRaw    Bucket = "raw"
	BucketMinute Bucket = "1m"
	BucketHour   Bucket = "1h"
	BucketDay    Bucket = "1d"
)

// Duration returns the bucket's width, 0 for raw.
func (b Bucket) Duration() time.Duration {
	switch b {
	case BucketMinute:
		return time.Minute
	case BucketHour:
		return time.Hour
	case BucketDay:
		return 24 * time.Hour
	}
	return 0
}

// Valid reports whether b is one of the four buckets.
func (b Bucket) Valid() bool { return b == BucketRaw || b.Duration() > 0 }

// ReadingQuery selects one device's readings in [From, To).
type ReadingQuery struct {
	DeviceID int64
	From, To time.Time
	Bucket   Bucket
	Metrics  []Metric // empty means all
	// Limit caps the number of points; the newest are dropped first.
	Limit int
}

// Point is one raw reading or one bucket of a query. Avg, Min and Max are
// indexed like the query's Metrics; a raw point has Min and Max nil. NaN
// means no value in the bucket.
type Point struct {
	TS    time.Time // reading time, or bucket start
	Seq   int64     // raw points only
	Count int64     // readings in the bucket; 1 for raw
	Avg   []float64
	Min   []float64
	Max   []float64
}

// IngestResult says what happened to a batch of readings.
type IngestResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection is a reading of a batch that was not stored, and why.
type Rejection struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ReadingStore keeps readings and their rollups.
type ReadingStore interface {
	// InsertReadings stores the readings that are new and returns which were
	// new (len(readings) flags). When it returns nil the new readings,
	// their rollups and the devices' last-seen state are durable. Callers
	// validate readings and check that each device belongs to the org first.
	InsertReadings(ctx context.Context, orgID int64, readings []Reading) (isNew []bool, err error)
	// QueryReadings returns points ordered by time. ENOTFOUND when the
	// device is not the org's; EINVALID for a bad bucket or range.
	QueryReadings(ctx context.Context, orgID int64, q ReadingQuery) ([]Point, error)
}
