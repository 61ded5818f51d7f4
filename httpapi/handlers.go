package httpapi

import (
	_ "embed"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/vibemon/vibemon"
)

// handle adapts a handler that returns an error; the error is the answer.
func (s *server) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// items is the envelope of every list.
type items[T any] struct {
	Items []T `json:"items"`
}

func list[T any](v []T) items[T] {
	if v == nil {
		v = []T{}
	}
	return items[T]{Items: v}
}

// pathID returns the {id} of the path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, vibemon.Errorf(vibemon.EINVALID, "The id in the path must be a positive integer, not %q.", r.PathValue("id"))
	}
	return id, nil
}

// clientIP is the peer's address. Forwarded headers are not trusted: a
// client could set them to dodge the login limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

func handleReadyz(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "Not ready: a backend is unreachable.")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready\n"))
		return nil
	})
}

//go:embed openapi.json
var openAPI []byte

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
}

func handleNoRoute(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return vibemon.Errorf(vibemon.ENOTFOUND, "There is no route %s %s.", r.Method, r.URL.Path)
	})
}

// trimmed returns the trimmed string and checks its length.
func checkLen(field, v string, min, max int) error {
	if n := len(strings.TrimSpace(v)); n < min || n > max {
		if min > 0 && n == 0 {
			return vibemon.Errorf(vibemon.EINVALID, "%s is required.", field)
		}
		return vibemon.Errorf(vibemon.EINVALID, "%s must be %d to %d characters long.", field, min, max)
	}
	return nil
}
