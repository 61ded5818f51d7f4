package httpapi

import (
	"net/http"

	"github.com/vibemon/vibemon"
)

type gapsInput struct {
	Gaps []vibemon.ReportedGap `json:"gaps"`
}

// handleGapReport stores the gaps a gateway recorded for a device
// (queue_full, node_ring_overflow, rejected). Idempotent: retrying a report
// stores nothing twice.
func handleGapReport(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		in, err := decode[gapsInput](s, w, r)
		if err != nil {
			return err
		}
		if len(in.Gaps) == 0 || len(in.Gaps) > vibemon.MaxReportedGaps {
			return invalidf("gaps must hold 1..%d gaps.", vibemon.MaxReportedGaps)
		}
		n, err := s.store.ReportGaps(r.Context(), claimsFrom(r.Context()).OrgID, id, in.Gaps)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, map[string]int{"stored": n, "duplicates": len(in.Gaps) - n})
		return nil
	})
}
