package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

func handleIngest(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		body, err := s.body(w, r)
		if err != nil {
			return err
		}
		defer body.Close()
		items, err := decodeBatch(body, s.maxBatch)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return vibemon.Errorf(vibemon.EINVALID, "readings must hold 1 to %d readings.", s.maxBatch)
		}
		// Judge each reading alone: a bad one is rejected with its index,
		// the others go on to the pipeline.
		res := vibemon.IngestResult{Rejected: []vibemon.Rejection{}}
		good := make([]vibemon.Reading, 0, len(items))
		orig := make([]int, 0, len(items)) // orig[i] is good[i]'s index in the request
		for i, it := range items {
			if it.err != nil {
				res.Rejected = append(res.Rejected, vibemon.Rejection{Index: i, Code: vibemon.ErrorCode(it.err), Message: vibemon.ErrorMessage(it.err)})
				continue
			}
			good = append(good, it.reading)
			orig = append(orig, i)
		}
		if len(good) > 0 {
			pr, err := s.telemetry.Ingest(r.Context(), claimsFrom(r.Context()).OrgID, good)
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			res.Accepted, res.Duplicates = pr.Accepted, pr.Duplicates
			for _, rj := range pr.Rejected {
				if rj.Index < 0 || rj.Index >= len(orig) {
					return fmt.Errorf("ingest: pipeline rejected index %d of %d readings", rj.Index, len(orig))
				}
				rj.Index = orig[rj.Index]
				res.Rejected = append(res.Rejected, rj)
			}
			slices.SortFunc(res.Rejected, func(a, b vibemon.Rejection) int { return a.Index - b.Index })
		}
		s.metrics.accepted.Add(float64(res.Accepted))
		s.metrics.duplicates.Add(float64(res.Duplicates))
		s.metrics.rejected.Add(float64(len(res.Rejected)))
		s.encode(w, r, http.StatusOK, res)
		return nil
	})
}

func invalidf(format string, args ...any) error {
	return vibemon.Errorf(vibemon.EINVALID, format, args...)
}

// queryTime parses the query parameter name of v, an RFC 3339 time, into
// *dst (UTC) and reports whether it was given; *dst is untouched when not.
func queryTime(v url.Values, name string, dst *time.Time) (bool, error) {
	str := v.Get(name)
	if str == "" {
		return false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return false, invalidf("%s %q is not an RFC 3339 time such as 2025-01-02T15:04:05Z.", name, str)
	}
	*dst = t.UTC()
	return true, nil
}

// Telemetry query limits.
const (
	defaultQueryRange = 24 * time.Hour
	maxRawRange       = 6 * time.Hour
	defaultQueryLimit = 10000
	maxQueryLimit     = 100000
)

// telemetryQuery parses GET /devices/{id}/telemetry's parameters.
func (s *server) telemetryQuery(r *http.Request, deviceID int64) (vibemon.ReadingQuery, error) {
	q := vibemon.ReadingQuery{DeviceID: deviceID, Limit: defaultQueryLimit}
	v := r.URL.Query()
	var from, to time.Time
	haveFrom, err := queryTime(v, "from", &from)
	if err != nil {
		return q, err
	}
	haveTo, err := queryTime(v, "to", &to)
	if err != nil {
		return q, err
	}
	if !haveTo {
		to = s.now().UTC()
	}
	if !haveFrom {
		from = to.Add(-defaultQueryRange)
	}
	if !from.Before(to) {
		return q, invalidf("from must be before to.")
	}
	q.From, q.To = from, to
	if str := v.Get("limit"); str != "" {
		n, err := strconv.Atoi(str)
		if err != nil || n < 1 || n > maxQueryLimit {
			return q, invalidf("limit must be an integer from 1 to %d, not %q.", maxQueryLimit, str)
		}
		q.Limit = n
	}
	q.Metrics = vibemon.AllMetrics()
	if str := v.Get("metrics"); str != "" {
		q.Metrics = q.Metrics[:0]
		for _, name := range strings.Split(str, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			m, ok := vibemon.ParseMetric(name)
			if !ok {
				return q, invalidf("metrics: %q is not a reading metric.", name)
			}
			if !slices.Contains(q.Metrics, m) {
				q.Metrics = append(q.Metrics, m)
			}
		}
		if len(q.Metrics) == 0 {
			return q, invalidf("metrics must name at least one metric.")
		}
	}
	q.Bucket = vibemon.Bucket(v.Get("bucket"))
	if q.Bucket == "" {
		q.Bucket = autoBucket(to.Sub(from), q.Limit)
	} else if !q.Bucket.Valid() {
		return q, invalidf("bucket must be raw, 1m, 1h or 1d, not %q.", q.Bucket)
	}
	return q, nil
}

// autoBucket picks raw for ranges up to 6 hours, else the finest rollup
// whose bucket count fits the limit (1d at the coarsest).
func autoBucket(rng time.Duration, limit int) vibemon.Bucket {
	if rng <= maxRawRange {
		return vibemon.BucketRaw
	}
	for _, b := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour} {
		if rng/b.Duration() <= time.Duration(limit) {
			return b
		}
	}
	return vibemon.BucketDay
}

func handleTelemetryQuery(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		q, err := s.telemetryQuery(r, id)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetDevice(r.Context(), org, id); err != nil {
			return err
		}
		pts, err := s.store.QueryReadings(r.Context(), org, q)
		if err != nil {
			return err
		}
		b := make([]byte, 0, 256+len(pts)*(40+len(q.Metrics)*20))
		b = append(b, `{"bucket":`...)
		b = strconv.AppendQuote(b, string(q.Bucket))
		b = append(b, `,"metrics":[`...)
		for i, m := range q.Metrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, m.String())
		}
		b = append(b, `],"items":[`...)
		for i := range pts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPoint(b, &pts[i], q.Bucket, q.Metrics)
		}
		b = append(b, "]}\n"...)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return nil
	})
}

// appendPoint appends a raw item {"ts","seq","values"} or a bucket item
// {"ts","count","avg","min","max"}.
func appendPoint(b []byte, p *vibemon.Point, bucket vibemon.Bucket, ms []vibemon.Metric) []byte {
	b = append(b, `{"ts":"`...)
	b = p.TS.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if bucket == vibemon.BucketRaw {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, p.Seq, 10)
		b = append(b, `,"values":`...)
		b = appendValues(b, ms, p.Avg)
		return append(b, '}')
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, p.Count, 10)
	b = append(b, `,"avg":`...)
	b = appendValues(b, ms, p.Avg)
	b = append(b, `,"min":`...)
	b = appendValues(b, ms, p.Min)
	b = append(b, `,"max":`...)
	b = appendValues(b, ms, p.Max)
	return append(b, '}')
}

// appendValues appends {"metric":value|null,...}; NaN and missing are null.
func appendValues(b []byte, ms []vibemon.Metric, vs []float64) []byte {
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, m.String()...)
		b = append(b, `":`...)
		if i >= len(vs) {
			b = append(b, "null"...)
			continue
		}
		b = appendFloat(b, vs[i])
	}
	return append(b, '}')
}

// appendFloat appends v as encoding/json would, and null for NaN or ±Inf.
func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, v, format, -1, 64)
}

// latestWindows are the look-back spans tried, newest first, to find a
// device's latest reading without scanning its whole history.
var latestWindows = []time.Duration{time.Hour, 8 * time.Hour, 64 * time.Hour, 21 * 24 * time.Hour, 180 * 24 * time.Hour, 4 * 365 * 24 * time.Hour, 30 * 365 * 24 * time.Hour}

func handleDeviceLatest(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		d, err := s.store.GetDevice(r.Context(), org, id)
		if err != nil {
			return err
		}
		noReading := vibemon.Errorf(vibemon.ENOTFOUND, "Device %d has no reading yet.", id)
		if d.LastSeenAt == nil {
			return noReading
		}
		// Readings may lead the clock by up to an hour (Reading.Validate).
		to := s.now().Add(time.Hour + time.Second)
		if d.LastSeenAt.After(to) {
			to = d.LastSeenAt.Add(time.Second)
		}
		const limit = 1000
		ms := vibemon.AllMetrics()
		for _, span := range latestWindows {
			from := to.Add(-span)
			for {
				q := vibemon.ReadingQuery{DeviceID: id, From: from, To: to, Bucket: vibemon.BucketRaw, Metrics: ms, Limit: limit}
				pts, err := s.store.QueryReadings(r.Context(), org, q)
				if err != nil {
					return err
				}
				if len(pts) == 0 {
					break
				}
				if len(pts) == limit && pts[len(pts)-1].TS.After(from) {
					// The newest points were cut; look after the last one.
					from = pts[len(pts)-1].TS
					continue
				}
				p := pts[len(pts)-1]
				b := []byte(`{"ts":"`)
				b = p.TS.UTC().AppendFormat(b, time.RFC3339Nano)
				b = append(b, `","seq":`...)
				b = strconv.AppendInt(b, p.Seq, 10)
				b = append(b, `,"values":`...)
				b = appendValues(b, ms, p.Avg)
				b = append(b, "}\n"...)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(b)
				return nil
			}
		}
		return noReading
	})
}
