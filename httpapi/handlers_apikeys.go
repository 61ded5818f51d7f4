package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// apiKeyCreate is the body of POST /api-keys.
type apiKeyCreate struct {
	Name string       `json:"name"`
	Role vibemon.Role `json:"role"`
}

func (in *apiKeyCreate) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	if err := checkLen("name", in.Name, 1, 200); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = vibemon.RoleEngineer
	}
	return checkRole(in.Role)
}

// apiKeyCreated is the answer to POST /api-keys: the only time the key
// itself is shown.
type apiKeyCreated struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Role      vibemon.Role `json:"role"`
	Prefix    string       `json:"prefix"`
	Key       string       `json:"key"`
	CreatedAt time.Time    `json:"created_at"`
}

// personOnly refuses callers authenticated with an API key: keys may not
// manage keys (a leaked key must not be able to mint more).
func personOnly(r *http.Request) error {
	if apiKeyFrom(r.Context()) != nil {
		return vibemon.Errorf(vibemon.EFORBIDDEN, "API keys may not manage API keys; log in as a user.")
	}
	return nil
}

func handleAPIKeyCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := personOnly(r); err != nil {
			return err
		}
		in, err := decodeValid[*apiKeyCreate](s, w, r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if !c.Role.Outranks(in.Role) {
			return vibemon.Errorf(vibemon.EFORBIDDEN, "An %s may not create an API key with the role %s.", c.Role, in.Role)
		}
		key, hash := vibemon.NewAPIKey()
		k := &vibemon.APIKey{OrgID: c.OrgID, Name: in.Name, Role: in.Role, Prefix: key[:8], Hash: hash, CreatedBy: c.UserID}
		if err := s.store.CreateAPIKey(r.Context(), k); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, apiKeyCreated{ID: k.ID, Name: k.Name, Role: k.Role, Prefix: k.Prefix, Key: key, CreatedAt: k.CreatedAt})
		return nil
	})
}

func handleAPIKeyList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := personOnly(r); err != nil {
			return err
		}
		keys, err := s.store.ListAPIKeys(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(keys))
		return nil
	})
}

func handleAPIKeyRevoke(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := personOnly(r); err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.store.RevokeAPIKey(r.Context(), claimsFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// maxCompletenessRange bounds GET /devices/{id}/completeness's window.
const maxCompletenessRange = 31 * 24 * time.Hour

func handleCompleteness(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		v := r.URL.Query()
		to, from := s.now().UTC(), time.Time{}
		if _, err := queryTime(v, "to", &to); err != nil {
			return err
		}
		if _, err := queryTime(v, "from", &from); err != nil {
			return err
		}
		if from.IsZero() {
			from = to.Add(-24 * time.Hour)
		}
		if !from.Before(to) {
			return invalidf("from must be before to.")
		} else if to.Sub(from) > maxCompletenessRange {
			return invalidf("The range may span at most 31 days.")
		}
		c, err := s.store.Completeness(r.Context(), claimsFrom(r.Context()).OrgID, id, from, to)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, c)
		return nil
	})
}
