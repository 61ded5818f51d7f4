package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvHeader names WriteCSV's columns.
var csvHeader = []string{"machine", "type", "rpm", "devices", "condition", "reasons", "zone_now", "vel_rms_now_mm_s",
	"worst_vel_rms_mm_s", "worst_zone", "worst_at", "diagnosis", "diagnosis_evidence", "diagnosis_at", "anomaly", "trend", "forecast_alarm_at",
	"alerts_opened", "alerts_critical", "alerts_warning", "alerts_info", "alerts_open_now", "received_percent"}

// WriteCSV writes the report as CSV: a header, then a row per machine in
// the report's order. Times are RFC 3339 UTC; an empty cell is no value.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, m := range r.Machines {
		alerts := strconv.Itoa(m.AlertsOpened)
		if m.AlertsTruncated {
			alerts += "+"
		}
		row := []string{cell(m.Name), cell(m.Type), num(&m.RPM, 0), strconv.Itoa(m.Devices), m.Condition, cell(strings.Join(m.Reasons, "; ")),
			str(m.Zone), num(m.VelRMS, 2), num(m.WorstVelRMS, 2), str(m.WorstZone), ts(m.WorstAt), cell(m.Diagnosis), cell(m.DiagnosisEvidence), ts(m.DiagnosisAt),
			m.Anomaly, m.Trend, ts(m.AlarmAt), alerts, strconv.Itoa(m.AlertsCritical), strconv.Itoa(m.AlertsWarning),
			strconv.Itoa(m.AlertsInfo), strconv.Itoa(m.OpenNow), num(m.Received, 1)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell keeps a spreadsheet from reading user text (a machine's name) as a
// formula: text starting with = + - @ or a tab or CR gets a leading '.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func num(v *float64, prec int) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ts(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
