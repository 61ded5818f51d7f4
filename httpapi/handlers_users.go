package httpapi

import (
	"net/http"
	"strings"

	"github.com/vibemon/vibemon"
)

type orgPatch struct {
	Name *string `json:"name"`
	// RetentionDays: raw readings older than this many days are deleted;
	// 0 keeps them forever.
	RetentionDays *int `json:"retention_days"`
	// WaveformRetentionDays: bursts older than this many days are deleted;
	// 0 keeps them forever.
	WaveformRetentionDays *int `json:"waveform_retention_days"`
}

func (p orgPatch) validate() error {
	if p.Name == nil && p.RetentionDays == nil && p.WaveformRetentionDays == nil {
		return vibemon.Errorf(vibemon.EINVALID, "name, retention_days or waveform_retention_days is required.")
	}
	if p.RetentionDays != nil && (*p.RetentionDays < 0 || *p.RetentionDays > vibemon.MaxRetentionDays) {
		return vibemon.Errorf(vibemon.EINVALID, "retention_days must be 0 (keep raw readings forever) or 1 to %d days.", vibemon.MaxRetentionDays)
	}
	if p.WaveformRetentionDays != nil && (*p.WaveformRetentionDays < 0 || *p.WaveformRetentionDays > vibemon.MaxRetentionDays) {
		return vibemon.Errorf(vibemon.EINVALID, "waveform_retention_days must be 0 (keep bursts forever) or 1 to %d days.", vibemon.MaxRetentionDays)
	}
	if p.Name == nil {
		return nil
	}
	return checkLen("name", *p.Name, 1, 200)
}

func handleOrgGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		o, err := s.store.GetOrg(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, o)
		return nil
	})
}

func handleOrgPatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[orgPatch](s, w, r)
		if err != nil {
			return err
		}
		o, err := s.store.GetOrg(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		if in.Name != nil {
			o.Name = strings.TrimSpace(*in.Name)
		}
		if in.RetentionDays != nil {
			o.RetentionDays = *in.RetentionDays
		}
		if in.WaveformRetentionDays != nil {
			o.WaveformRetentionDays = *in.WaveformRetentionDays
		}
		if err := s.store.UpdateOrg(r.Context(), o); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, o)
		return nil
	})
}

// Password length limits: short ones are guessable, and a long one costs
// nothing more to hash but bytes to carry.
const (
	minPassword = 8
	maxPassword = 1024
)

func checkEmail(email string) error {
	if len(email) > 254 || strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") ||
		strings.HasSuffix(email, "@") || strings.ContainsAny(email, " \t\r\n") {
		return vibemon.Errorf(vibemon.EINVALID, "email %q is not an e-mail address.", email)
	}
	return nil
}

func checkPassword(pw string) error {
	if len(pw) < minPassword || len(pw) > maxPassword {
		return vibemon.Errorf(vibemon.EINVALID, "password must be %d to %d characters long.", minPassword, maxPassword)
	}
	return nil
}

func checkRole(role vibemon.Role) error {
	if !role.Valid() {
		return vibemon.Errorf(vibemon.EINVALID, "role must be owner, admin, engineer or viewer, not %q.", role)
	}
	return nil
}

type userCreate struct {
	Email    string       `json:"email"`
	Name     string       `json:"name"`
	Role     vibemon.Role `json:"role"`
	Password string       `json:"password"`
}

func (u *userCreate) validate() error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.Name = strings.TrimSpace(u.Name)
	if err := checkEmail(u.Email); err != nil {
		return err
	}
	if err := checkLen("name", u.Name, 0, 200); err != nil {
		return err
	}
	if err := checkRole(u.Role); err != nil {
		return err
	}
	return checkPassword(u.Password)
}

type userPatch struct {
	Name     *string       `json:"name"`
	Role     *vibemon.Role `json:"role"`
	Password *string       `json:"password"`
}

func (u *userPatch) validate() error {
	if u.Name != nil {
		if err := checkLen("name", *u.Name, 0, 200); err != nil {
			return err
		}
	}
	if u.Role != nil {
		if err := checkRole(*u.Role); err != nil {
			return err
		}
	}
	if u.Password != nil {
		return checkPassword(*u.Password)
	}
	return nil
}

func handleUserList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		us, err := s.store.ListUsers(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(us))
		return nil
	})
}

func handleUserCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[*userCreate](s, w, r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if !c.Role.Outranks(in.Role) {
			return vibemon.Errorf(vibemon.EFORBIDDEN, "An %s may not create a user with the role %s.", c.Role, in.Role)
		}
		hash, err := s.pwParams.Hash(in.Password)
		if err != nil {
			return err
		}
		u := &vibemon.User{OrgID: c.OrgID, Email: in.Email, Name: in.Name, Role: in.Role, PasswordHash: hash}
		if err := s.store.CreateUser(r.Context(), u); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, u)
		return nil
	})
}

func handleUserGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		u, err := s.store.GetUser(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, u)
		return nil
	})
}

// managedUser loads the path's user and checks the caller may manage them:
// nobody manages a user above their own role.
func (s *server) managedUser(r *http.Request) (*vibemon.User, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	c := claimsFrom(r.Context())
	u, err := s.store.GetUser(r.Context(), c.OrgID, id)
	if err != nil {
		return nil, err
	}
	if !c.Role.Outranks(u.Role) {
		return nil, vibemon.Errorf(vibemon.EFORBIDDEN, "An %s may not change an %s.", c.Role, u.Role)
	}
	return u, nil
}

func handleUserPatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[*userPatch](s, w, r)
		if err != nil {
			return err
		}
		u, err := s.managedUser(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if in.Role != nil && *in.Role != u.Role {
			if !c.Role.Outranks(*in.Role) {
				return vibemon.Errorf(vibemon.EFORBIDDEN, "An %s may not give the role %s.", c.Role, *in.Role)
			}
			if u.ID == c.UserID {
				return vibemon.Errorf(vibemon.ECONFLICT, "You may not change your own role; ask another %s.", c.Role)
			}
			u.Role = *in.Role
		}
		if in.Name != nil {
			u.Name = strings.TrimSpace(*in.Name)
		}
		if in.Password != nil {
			if u.PasswordHash, err = s.pwParams.Hash(*in.Password); err != nil {
				return err
			}
		}
		if err := s.store.UpdateUser(r.Context(), u); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, u)
		return nil
	})
}

func handleUserDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.managedUser(r)
		if err != nil {
			return err
		}
		c := claimsFrom(r.Context())
		if u.ID == c.UserID {
			return vibemon.Errorf(vibemon.ECONFLICT, "You may not delete yourself; ask another %s.", c.Role)
		}
		if err := s.store.DeleteUser(r.Context(), c.OrgID, u.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
