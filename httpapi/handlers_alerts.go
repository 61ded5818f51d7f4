package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/vibemon/vibemon"
)

type ruleInput struct {
	Name      *string           `json:"name"`
	Kind      *vibemon.RuleKind `json:"kind"`
	AssetID   *int64            `json:"asset_id"`
	DeviceID  *int64            `json:"device_id"`
	Metric    *string           `json:"metric"`
	Op        *vibemon.Op       `json:"op"`
	Threshold *float64          `json:"threshold"`
	Clear     *float64          `json:"clear"`
	Severity  *vibemon.Severity `json:"severity"`
	Enabled   *bool             `json:"enabled"`

	ForSeconds      *int     `json:"for_seconds"`
	ClearForSeconds *int     `json:"clear_for_seconds"`
	Fault           *string  `json:"fault"`
	MinConfidence   *float64 `json:"min_confidence"`

	RemindEveryMinutes *int            `json:"remind_every_minutes"`
	Escalation         escalationInput `json:"escalation"`

	// The other kinds (rule_kinds.go).
	Zone           *string              `json:"zone"`
	WithinDays     *int                 `json:"within_days"`
	OfflineMinutes *int                 `json:"offline_minutes"`
	Conditions     *[]vibemon.Condition `json:"conditions"`
	Match          *string              `json:"match"`
}

// escalationInput tells a rule body's "escalation": null (remove it) from
// a missing one (keep it).
type escalationInput struct {
	set   bool
	steps []vibemon.EscalationStep
}

func (e *escalationInput) UnmarshalJSON(b []byte) error {
	e.set = true
	return json.Unmarshal(b, &e.steps)
}

// apply sets the given fields on rule, checks that the asset and device it
// names are the org's, and validates it.
func (s *server) applyRule(ctx context.Context, in ruleInput, rule *vibemon.Rule) error {
	if in.Kind != nil {
		if rule.ID != 0 && *in.Kind != rule.Kind {
			return invalidf("kind cannot be changed; create a new rule.")
		}
		rule.Kind = *in.Kind
	}
	if err := checkKindFields(in, rule); err != nil {
		return err
	}
	if in.Name != nil {
		rule.Name = *in.Name
	}
	if in.AssetID != nil {
		rule.AssetID = *in.AssetID
	}
	if in.DeviceID != nil {
		rule.DeviceID = *in.DeviceID
	}
	if in.Metric != nil {
		rule.Metric = *in.Metric
	}
	if in.Op != nil {
		rule.Op = *in.Op
	}
	if in.Threshold != nil {
		if in.Clear == nil && rule.Clear == rule.Threshold {
			rule.Clear = math.NaN() // no hysteresis before, none after
		}
		rule.Threshold = *in.Threshold
	}
	if in.Clear != nil {
		rule.Clear = *in.Clear
	}
	if in.Severity != nil {
		rule.Severity = *in.Severity
	}
	if in.Enabled != nil {
		rule.Enabled = *in.Enabled
	}
	if in.ForSeconds != nil {
		rule.ForSeconds = *in.ForSeconds
	}
	if in.ClearForSeconds != nil {
		rule.ClearForSeconds = *in.ClearForSeconds
	}
	if in.Fault != nil {
		rule.Fault = *in.Fault
	}
	if in.MinConfidence != nil {
		rule.MinConfidence = *in.MinConfidence
	}
	if in.RemindEveryMinutes != nil {
		rule.RemindEveryMinutes = *in.RemindEveryMinutes
	}
	if in.Escalation.set {
		rule.Escalation = in.Escalation.steps // null or []: no escalation
	}
	applyKindFields(in, rule)
	if err := rule.Validate(); err != nil {
		return err
	}
	if rule.AssetID != 0 {
		if _, err := s.store.GetAsset(ctx, rule.OrgID, rule.AssetID); vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return invalidf("asset_id %d is not an asset of your organization.", rule.AssetID)
		} else if err != nil {
			return err
		}
	}
	if rule.DeviceID != 0 {
		if _, err := s.store.GetDevice(ctx, rule.OrgID, rule.DeviceID); vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return invalidf("device_id %d is not a device of your organization.", rule.DeviceID)
		} else if err != nil {
			return err
		}
	}
	return s.checkKindScope(ctx, rule)
}

func handleRuleList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		rs, err := s.store.ListRules(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(rs))
		return nil
	})
}

func handleRuleCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[ruleInput](s, w, r)
		if err != nil {
			return err
		}
		rule := &vibemon.Rule{OrgID: claimsFrom(r.Context()).OrgID, Enabled: true, Clear: math.NaN()}
		if err := s.applyRule(r.Context(), in, rule); err != nil {
			return err
		}
		if err := s.store.CreateRule(r.Context(), rule); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, rule)
		return nil
	})
}

func handleRuleGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		rule, err := s.store.GetRule(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, rule)
		return nil
	})
}

func handleRulePatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[ruleInput](s, w, r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		rule, err := s.store.GetRule(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		if err := s.applyRule(r.Context(), in, rule); err != nil {
			return err
		}
		if err := s.store.UpdateRule(r.Context(), rule); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, rule)
		return nil
	})
}

func handleRuleDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteRule(r.Context(), claimsFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleAlertList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		var f vibemon.AlertFilter
		switch st := vibemon.AlertStatus(v.Get("status")); st {
		case "", vibemon.AlertOpen, vibemon.AlertAcknowledged, vibemon.AlertResolved:
			f.Status = st
		default:
			return invalidf("status must be open, acknowledged or resolved, not %q.", st)
		}
		queryInt := func(name string, min, max int64) (int64, error) {
			str := v.Get(name)
			if str == "" {
				return 0, nil
			}
			n, err := strconv.ParseInt(str, 10, 64)
			if err != nil || n < min || n > max {
				return 0, invalidf("%s must be an integer from %d to %d, not %q.", name, min, max, str)
			}
			return n, nil
		}
		var err error
		if f.DeviceID, err = queryInt("device_id", 1, math.MaxInt64); err != nil {
			return err
		}
		if f.AssetID, err = queryInt("asset_id", 1, math.MaxInt64); err != nil {
			return err
		}
		switch asg := v.Get("assignee"); asg {
		case "":
		case "me":
			if f.AssigneeID = claimsFrom(r.Context()).UserID; f.AssigneeID == 0 {
				return invalidf("assignee=me needs a signed-in user; an API key is nobody. Use a user id.")
			}
		case "none":
			f.Unassigned = true
		default:
			if f.AssigneeID, err = queryInt("assignee", 1, math.MaxInt64); err != nil {
				return invalidf("assignee must be me, none or a user id, not %q.", asg)
			}
		}
		limit, err := queryInt("limit", 1, 1000)
		if err != nil {
			return err
		}
		f.Limit = int(limit)
		as, err := s.store.ListAlerts(r.Context(), claimsFrom(r.Context()).OrgID, f)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(as))
		return nil
	})
}

func handleAlertGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		a, err := s.store.GetAlert(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

type ackInput struct {
	Comment string `json:"comment"`
}

func handleAlertAck(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeOptional[ackInput](s, w, r)
		if err != nil {
			return err
		}
		if err := checkLen("comment", in.Comment, 0, 2000); err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		a, err := s.store.AckAlert(r.Context(), c.OrgID, id, c.UserID, in.Comment, s.now().UTC())
		if err != nil {
			return err
		}
		s.publishAlert(r.Context(), a)
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

func handleAlertResolve(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := decodeOptional[struct{}](s, w, r); err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		a, err := s.store.ResolveAlert(r.Context(), c.OrgID, id, c.UserID, s.now().UTC())
		if err != nil {
			return err
		}
		s.publishAlert(r.Context(), a)
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

// publishAlert tells live clients about a change made here. Live delivery
// is best effort: the alert is stored, so a failure is only logged.
func (s *server) publishAlert(ctx context.Context, a *vibemon.Alert) {
	if s.bus == nil {
		return
	}
	data, err := a.LiveData()
	if err == nil {
		err = s.bus.Publish(ctx, vibemon.Event{Type: vibemon.EventAlert, OrgID: a.OrgID, DeviceID: a.DeviceID, AssetID: a.AssetID, Data: data})
	}
	if err != nil {
		s.log.WarnContext(ctx, "publish alert change", "alert", a.ID, "err", err)
	}
}

func handleAlertEvents(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		es, err := s.store.ListAlertEvents(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(es))
		return nil
	})
}

type assignInput struct {
	AssigneeID *int64 `json:"assignee_id"`
}

// handleAlertAssign sets who looks after an alert. The assignee must be a
// user of the org who may acknowledge alerts (not a viewer); 0 unassigns.
func handleAlertAssign(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[assignInput](s, w, r)
		if err != nil {
			return err
		}
		if in.AssigneeID == nil || *in.AssigneeID < 0 {
			return invalidf("assignee_id is required: a user id, or 0 to unassign.")
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if _, err := s.store.GetAlert(r.Context(), c.OrgID, id); err != nil {
			return err // not found before telling anything about users
		}
		if *in.AssigneeID != 0 {
			u, err := s.store.GetUser(r.Context(), c.OrgID, *in.AssigneeID)
			if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
				return invalidf("assignee_id %d is not a user of your organization.", *in.AssigneeID)
			} else if err != nil {
				return err
			}
			if !u.Role.Can(vibemon.ActAckAlerts) {
				return invalidf("%s is a viewer and cannot act on alerts; assign an engineer, admin or owner.", u.Name)
			}
		}
		a, err := s.store.AssignAlert(r.Context(), c.OrgID, id, *in.AssigneeID, c.UserID, s.now().UTC())
		if err != nil {
			return err
		}
		s.publishAlert(r.Context(), a)
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

type commentInput struct {
	Comment string `json:"comment"`
}

// handleAlertComment adds a comment to an alert's timeline (also after it
// is resolved) and answers the event.
func handleAlertComment(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[commentInput](s, w, r)
		if err != nil {
			return err
		}
		if err := checkLen("comment", strings.TrimSpace(in.Comment), 1, vibemon.MaxAlertComment); err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		e := &vibemon.AlertEvent{OrgID: c.OrgID, AlertID: id, Kind: vibemon.EventCommented, At: s.now().UTC(), UserID: c.UserID, Comment: in.Comment}
		if err := s.store.AddAlertEvent(r.Context(), e); err != nil {
			return err
		}
		if a, err := s.store.GetAlert(r.Context(), c.OrgID, id); err == nil {
			a.Appended = e
			s.publishAlert(r.Context(), a)
		}
		s.encode(w, r, http.StatusCreated, e)
		return nil
	})
}
