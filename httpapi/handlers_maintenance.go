package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/vibemon/vibemon"
)

type maintenanceInput struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
}

// handleMaintenanceCreate silences an asset from "from" to "to".
func handleMaintenanceCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if _, err := s.store.GetAsset(r.Context(), c.OrgID, id); err != nil {
			return err
		}
		in, err := decode[maintenanceInput](s, w, r)
		if err != nil {
			return err
		}
		mw := &vibemon.MaintenanceWindow{OrgID: c.OrgID, AssetID: id, From: in.From, To: in.To, Reason: in.Reason, CreatedBy: c.UserID}
		if err := s.store.CreateMaintenance(r.Context(), mw); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, mw)
		return nil
	})
}

// handleMaintenanceList lists the asset's windows, past ones too, by start.
func handleMaintenanceList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetAsset(r.Context(), org, id); err != nil {
			return err
		}
		ws, err := s.store.ListMaintenance(r.Context(), org, id, time.Time{})
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(ws))
		return nil
	})
}

// handleMaintenanceDelete removes one window of the asset.
func handleMaintenanceDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetAsset(r.Context(), org, id); err != nil {
			return err
		}
		mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
		if err != nil || mid <= 0 {
			return invalidf("The maintenance window id in the path must be a positive integer, not %q.", r.PathValue("mid"))
		}
		if err := s.store.DeleteMaintenance(r.Context(), org, id, mid); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
