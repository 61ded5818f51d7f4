package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/vibemon/vibemon"
)

// ConditionReporter builds the fleet condition report (report.Builder).
type ConditionReporter interface {
	// ConditionReport returns the JSON-encodable report of the org's
	// machines over [from, to); EINVALID for a period it does not cover.
	ConditionReport(ctx context.Context, orgID int64, from, to time.Time) (CSVWriter, error)
}

// CSVWriter is a report that also writes itself as CSV.
type CSVWriter interface {
	WriteCSV(w io.Writer) error
}

// ConditionReportFunc adapts a function to ConditionReporter.
type ConditionReportFunc func(ctx context.Context, orgID int64, from, to time.Time) (CSVWriter, error)

// ConditionReport calls f.
func (f ConditionReportFunc) ConditionReport(ctx context.Context, orgID int64, from, to time.Time) (CSVWriter, error) {
	return f(ctx, orgID, from, to)
}

// Condition report periods, days.
const (
	defaultReportDays = 30
	maxReportDays     = 366
)

// handleConditionReport answers GET /reports/condition: ?days=N (default
// 30) up to now or to, or from and to; ?format=csv (or Accept: text/csv)
// for a spreadsheet.
func handleConditionReport(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		to := s.now().UTC()
		if _, err := queryTime(v, "to", &to); err != nil {
			return err
		}
		var from time.Time
		haveFrom, err := queryTime(v, "from", &from)
		if err != nil {
			return err
		}
		if str := v.Get("days"); str != "" || !haveFrom {
			if haveFrom {
				return invalidf("Give either days or from, not both.")
			}
			days := defaultReportDays
			if str != "" {
				if days, err = strconv.Atoi(str); err != nil || days < 1 || days > maxReportDays {
					return invalidf("days must be an integer from 1 to %d, not %q.", maxReportDays, str)
				}
			}
			from = to.AddDate(0, 0, -days)
		}
		csv := false
		switch f := v.Get("format"); f {
		case "csv":
			csv = true
		case "json":
		case "":
			csv = r.Header.Get("Accept") == "text/csv"
		default:
			return invalidf("format must be json or csv, not %q.", f)
		}
		if s.reports == nil {
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "Reports are not configured on this server.")
		}
		rep, err := s.reports.ConditionReport(r.Context(), claimsFrom(r.Context()).OrgID, from, to)
		if err != nil {
			return err
		}
		if !csv {
			s.encode(w, r, http.StatusOK, rep)
			return nil
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vibemon-condition-`+from.Format("2006-01-02")+`-to-`+to.Format("2006-01-02")+`.csv"`)
		if err := rep.WriteCSV(w); err != nil {
			s.log.WarnContext(r.Context(), "write condition report", "err", err)
		}
		return nil
	})
}
