package recording

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/vibemon/vibemon"
)

// timeHeader matches the header of a time column and captures its unit:
// t, time, timestamp, optionally with s, ms or us ("time_s", "t (ms)",
// "time[s]").
var timeHeader = regexp.MustCompile(`^(?:t|time|timestamp)(?:\s*[_\[( ]\s*(s|ms|us|µs)\s*[\])]?)?$`)

// timeScale converts a time column's unit to seconds.
var timeScale = map[string]float64{"": 1, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}

// readCSV reads delimited text: comma, semicolon or tab separated (the
// first row decides), an optional header row naming the columns, an
// optional time column (named t or time in the header), and one column
// per axis. Lines starting with # and blank lines are skipped. With a
// semicolon or tab separator a decimal comma ("0,125") is accepted too.
func readCSV(r *bufio.Reader) (*Recording, error) {
	if b, _ := r.Peek(3); bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		r.Discard(3)
	}
	sep := detectSeparator(r)
	cr := csv.NewReader(r)
	cr.Comma = sep
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	decimalComma := sep != ','

	first, err := cr.Read()
	if err == io.EOF {
		return nil, vibemon.Errorf(vibemon.EINVALID, "CSV has no rows (only blank or comment lines)")
	} else if err != nil {
		return nil, csvError(err)
	}
	first = trimTrailingEmpty(first, 1)
	line, _ := cr.FieldPos(0)
	ncols := len(first)
	numeric := 0
	for _, c := range first {
		if _, ok := parseNumber(c, decimalComma); ok {
			numeric++
		}
	}
	names := make([]string, ncols)
	timeCol, timeUnit := -1, 1.0
	hasHeader := numeric < ncols
	if hasHeader {
		seen := map[string]int{}
		for i, c := range first {
			c = strings.TrimSpace(c)
			if c == "" {
				return nil, vibemon.Errorf(vibemon.EINVALID, "header (line %d): column %d has no name", line, i+1)
			}
			if _, ok := parseNumber(c, decimalComma); ok {
				return nil, vibemon.Errorf(vibemon.EINVALID, "header (line %d): column %d is the number %q but other columns are names; name every column, or none", line, i+1, c)
			}
			if j, dup := seen[strings.ToLower(c)]; dup {
				return nil, vibemon.Errorf(vibemon.EINVALID, "header (line %d): columns %d and %d are both named %q", line, j+1, i+1, c)
			}
			seen[strings.ToLower(c)] = i
			if m := timeHeader.FindStringSubmatch(strings.ToLower(c)); m != nil {
				if timeCol >= 0 {
					return nil, vibemon.Errorf(vibemon.EINVALID, "header (line %d): two time columns, %q and %q", line, names[timeCol], c)
				}
				timeCol, timeUnit = i, timeScale[m[1]]
			}
			names[i] = c
		}
		if timeCol >= 0 && ncols == 1 {
			return nil, vibemon.Errorf(vibemon.EINVALID, "header (line %d) names only a time column; want one column per axis", line)
		}
	} else {
		for i := range names {
			names[i] = fmt.Sprintf("ch%d", i+1)
		}
	}
	naxes := ncols
	if timeCol >= 0 {
		naxes--
	}
	if naxes > MaxAxes {
		return nil, vibemon.Errorf(vibemon.EINVALID, "CSV has %d sample columns (line %d); want 1 to %d, one per axis", naxes, line, MaxAxes)
	}
	// axisOf maps a column to its axis, -1 for the time column.
	axisOf := make([]int, ncols)
	var axes []string
	for i := range axisOf {
		if i == timeCol {
			axisOf[i] = -1
			continue
		}
		axisOf[i] = len(axes)
		axes = append(axes, names[i])
	}
	samples := make([][]float64, naxes)
	var times []float64

	row := 0
	rec := first
	if hasHeader {
		rec = nil
	}
	for {
		if rec == nil {
			rec, err = cr.Read()
			if err == io.EOF {
				break
			} else if err != nil {
				return nil, csvError(err)
			}
			if len(rec) > ncols {
				rec = trimTrailingEmpty(rec, ncols)
			}
			line, _ = cr.FieldPos(0)
		}
		row++
		if len(rec) != ncols {
			what := "the first row"
			if hasHeader {
				what = "the header"
			}
			return nil, vibemon.Errorf(vibemon.EINVALID, "row %d (line %d) has %d columns but %s has %d", row, line, len(rec), what, ncols)
		}
		for i, c := range rec {
			v, ok := parseNumber(c, decimalComma)
			if !ok {
				if strings.TrimSpace(c) == "" {
					return nil, vibemon.Errorf(vibemon.EINVALID, "row %d (line %d), column %d (%s): empty cell", row, line, i+1, names[i])
				}
				return nil, vibemon.Errorf(vibemon.EINVALID, "row %d (line %d), column %d (%s): %q is not a number", row, line, i+1, names[i], clip(c))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, vibemon.Errorf(vibemon.EINVALID, "row %d (line %d), column %d (%s): %s sample", row, line, i+1, names[i], badSample(v))
			}
			if a := axisOf[i]; a >= 0 {
				samples[a] = append(samples[a], v)
				continue
			}
			v *= timeUnit
			if n := len(times); n > 0 && v <= times[n-1] {
				return nil, vibemon.Errorf(vibemon.EINVALID, "row %d (line %d), column %d (%s): time %g s is not after the previous row's %g s; write the time with more digits, or drop the column and give --rate",
					row, line, i+1, names[i], v, times[n-1])
			}
			times = append(times, v)
		}
		rec = nil
	}
	if row == 0 {
		return nil, vibemon.Errorf(vibemon.EINVALID, "CSV has a header but no data rows")
	}
	out := &Recording{Axes: axes, Samples: samples}
	if timeCol >= 0 {
		rate, err := rateFromTimes(times, names[timeCol])
		if err != nil {
			return nil, err
		}
		out.Rate, out.RateSource = rate, "time column"
	}
	return out, nil
}

// rateFromTimes infers the sample rate from a strictly increasing time
// column, refusing a column with a gap (a step over 1.5 times the mean),
// since the analysis assumes even sampling.
func rateFromTimes(t []float64, name string) (float64, error) {
	n := len(t)
	if n < 2 {
		return 0, vibemon.Errorf(vibemon.EINVALID, "time column %q needs at least 2 rows to give a sample rate", name)
	}
	mean := (t[n-1] - t[0]) / float64(n-1)
	for i := 1; i < n; i++ {
		if dt := t[i] - t[i-1]; dt > 1.5*mean {
			return 0, vibemon.Errorf(vibemon.EINVALID, "time column %q jumps from %g s to %g s at row %d, %.1f× the mean step: the recording has a gap; split the file there",
				name, t[i-1], t[i], i+1, dt/mean)
		}
	}
	rate := 1 / mean
	// Timestamps printed with few digits give a rate a hair off the
	// true one; snap to a whole number of Hz when that close.
	if r := math.Round(rate); r > 0 && math.Abs(rate-r) <= 1e-4*rate {
		rate = r
	}
	return rate, nil
}

// detectSeparator picks the separator from the first data-bearing line:
// a tab if it has one, else a semicolon, else a comma.
func detectSeparator(r *bufio.Reader) rune {
	b, _ := r.Peek(r.Size())
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		switch {
		case bytes.IndexByte(line, '\t') >= 0:
			return '\t'
		case bytes.IndexByte(line, ';') >= 0:
			return ';'
		}
		return ','
	}
	return ','
}

// parseNumber parses a cell; with decimalComma a single comma and no dot
// is read as the decimal point.
func parseNumber(s string, decimalComma bool) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && decimalComma && strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		v, err = strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	}
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

// trimTrailingEmpty drops empty cells at the end of a row, down to keep
// cells: a trailing separator (common in spreadsheet exports) leaves one.
func trimTrailingEmpty(rec []string, keep int) []string {
	for len(rec) > keep && strings.TrimSpace(rec[len(rec)-1]) == "" {
		rec = rec[:len(rec)-1]
	}
	return rec
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return vibemon.Errorf(vibemon.EINVALID, "CSV line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err
}

// clip shortens a cell for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
