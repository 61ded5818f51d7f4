package httpapi

import (
	"net/http"
	"strings"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (l loginRequest) validate() error {
	if l.Email == "" || l.Password == "" {
		return vibemon.Errorf(vibemon.EINVALID, "email and password are required.")
	}
	return nil
}

type tokensResponse struct {
	auth.Tokens
	User *vibemon.User `json:"user"`
}

var errBadLogin = vibemon.Errorf(vibemon.EUNAUTHORIZED, "Wrong e-mail or password.")

func handleLogin(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[loginRequest](s, w, r)
		if err != nil {
			return err
		}
		email := strings.ToLower(strings.TrimSpace(in.Email))
		ok, err := s.limiter.Allow(r.Context(), "login|"+clientIP(r)+"|"+email)
		if err != nil {
			s.log.WarnContext(r.Context(), "login rate limiter failed; letting the attempt through", "err", err)
		} else if !ok {
			return vibemon.Errorf(vibemon.ERATELIMIT, "Too many login attempts; wait a minute.")
		}
		u, err := s.store.FindUserByEmail(r.Context(), email)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			// Spend the time a hash takes, so the answer's delay does not
			// tell which e-mails exist.
			_, _ = auth.CheckPassword(s.dummy(), in.Password)
			return errBadLogin
		} else if err != nil {
			return err
		}
		match, err := auth.CheckPassword(u.PasswordHash, in.Password)
		if err != nil {
			return err // a corrupt hash is a bug: 500, logged
		} else if !match {
			return errBadLogin
		}
		return s.issue(w, r, u, "")
	})
}

// dummy returns a hash of nothing in particular with the server's costs.
func (s *server) dummy() string {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = s.pwParams.Hash("vibemon dummy password")
	})
	return s.dummyHash
}

// issue answers with new tokens for u in the family (new when "").
func (s *server) issue(w http.ResponseWriter, r *http.Request, u *vibemon.User, family string) error {
	t, sess, err := s.issuer.IssueInFamily(u, family)
	if err != nil {
		return err
	}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	s.encode(w, r, http.StatusOK, tokensResponse{Tokens: t, User: u})
	return nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (q refreshRequest) validate() error {
	if q.RefreshToken == "" {
		return vibemon.Errorf(vibemon.EINVALID, "refresh_token is required.")
	}
	return nil
}

func handleRefresh(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[refreshRequest](s, w, r)
		if err != nil {
			return err
		}
		sess, err := s.store.UseSession(r.Context(), auth.HashRefreshToken(in.RefreshToken), s.now())
		if err != nil {
			return err // EUNAUTHORIZED; a reused token has revoked its family
		}
		u, err := s.store.GetUser(r.Context(), sess.OrgID, sess.UserID)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The user no longer exists.")
		} else if err != nil {
			return err
		}
		return s.issue(w, r, u, sess.FamilyID)
	})
}

func handleLogout(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decodeValid[refreshRequest](s, w, r)
		if err != nil {
			return err
		}
		sess, err := s.store.UseSession(r.Context(), auth.HashRefreshToken(in.RefreshToken), s.now())
		switch vibemon.ErrorCode(err) {
		case "":
			if err := s.store.RevokeFamily(r.Context(), sess.FamilyID); err != nil {
				return err
			}
		case vibemon.EUNAUTHORIZED:
			// Unknown, expired or spent (and so revoked): logged out already.
		default:
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleMe(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if apiKeyFrom(r.Context()) != nil {
			return vibemon.Errorf(vibemon.EFORBIDDEN, "An API key is not a user.")
		}
		c := claimsFrom(r.Context())
		u, err := s.store.GetUser(r.Context(), c.OrgID, c.UserID)
		if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
			return vibemon.Errorf(vibemon.EUNAUTHORIZED, "The user no longer exists.")
		} else if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, u)
		return nil
	})
}
