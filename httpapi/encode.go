package httpapi

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/vibemon/vibemon"
)

// statusOf is the one table from error codes to HTTP statuses (docs/api.md).
func statusOf(code string) int {
	switch code {
	case vibemon.EINVALID:
		return http.StatusBadRequest
	case vibemon.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case vibemon.EFORBIDDEN:
		return http.StatusForbidden
	case vibemon.ENOTFOUND:
		return http.StatusNotFound
	case vibemon.ECONFLICT:
		return http.StatusConflict
	case vibemon.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case vibemon.ERATELIMIT:
		return http.StatusTooManyRequests
	case vibemon.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err as {"error":{"code","message"}}. Errors that
// are not *vibemon.Error are logged and answered as a bare "internal".
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := vibemon.ErrorCode(err)
	status := statusOf(code)
	if code == vibemon.EINTERNAL {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="vibemon"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60")
	}
	s.encode(w, r, status, errorBody{errorDetail{Code: code, Message: vibemon.ErrorMessage(err)}})
}

// encode writes v as JSON with the status.
func (s *server) encode(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.ErrorContext(r.Context(), "encode response", "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"Internal error."}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// validator is an input that can check itself after decoding.
type validator interface {
	validate() error
}

// decode reads the request body as one JSON value of type T; unknown fields
// are rejected.
func decode[T any](s *server, w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	body, err := s.body(w, r)
	if err != nil {
		return v, err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, jsonError(err)
	}
	if rv := reflect.ValueOf(&v).Elem(); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return v, vibemon.Errorf(vibemon.EINVALID, "The body must be a JSON object, not null.")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			if e := bodyLimitError(err); e != nil {
				return v, e
			}
		}
		return v, vibemon.Errorf(vibemon.EINVALID, "The body must hold a single JSON value.")
	}
	return v, nil
}

// decodeValid is decode followed by the value's own validation.
func decodeValid[T validator](s *server, w http.ResponseWriter, r *http.Request) (T, error) {
	v, err := decode[T](s, w, r)
	if err != nil {
		return v, err
	}
	return v, v.validate()
}

// decodeOptional is decode for bodies that may be empty (no fields given).
func decodeOptional[T any](s *server, w http.ResponseWriter, r *http.Request) (T, error) {
	var zero T
	if r.ContentLength == 0 {
		return zero, nil
	}
	v, err := decode[T](s, w, r)
	if err != nil && strings.Contains(err.Error(), "body is empty") {
		return zero, nil
	}
	return v, err
}

// body returns the request body limited to maxBody bytes, decompressing
// gzip; the limit applies to the decompressed size too.
func (s *server) body(w http.ResponseWriter, r *http.Request) (io.ReadCloser, error) {
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if e := bodyLimitError(err); e != nil {
				return nil, e
			}
			return nil, vibemon.Errorf(vibemon.EINVALID, "The body is not valid gzip.")
		}
		return &limitedBody{r: zr, closer: body, left: s.maxBody}, nil
	default:
		return nil, vibemon.Errorf(vibemon.EINVALID, "Content-Encoding %q is not supported; use gzip or none.", enc)
	}
}

// errDecompressedTooLarge is returned by a limitedBody past its limit.
var errDecompressedTooLarge = errors.New("decompressed body too large")

type limitedBody struct {
	r      *gzip.Reader
	closer io.Closer
	left   int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells whether the body really goes on.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errDecompressedTooLarge
		}
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		if bodyLimitError(err) == nil {
			err = fmt.Errorf("gzip: %w", err)
		}
	}
	return n, err
}

func (b *limitedBody) Close() error {
	b.r.Close()
	return b.closer.Close()
}

// bodyLimitError returns ETOOLARGE when err says the body is over a limit.
func bodyLimitError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge) {
		return vibemon.Errorf(vibemon.ETOOLARGE, "The body is larger than the limit of %d bytes.", limitOf(err))
	}
	return nil
}

func limitOf(err error) int64 {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe.Limit
	}
	return DefaultMaxBodyBytes
}

// jsonError turns a decoding error into an EINVALID (or ETOOLARGE) that
// names the field when it can.
func jsonError(err error) error {
	if e := bodyLimitError(err); e != nil {
		return e
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "gzip: ") || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader):
		return vibemon.Errorf(vibemon.EINVALID, "The body is not valid gzip.")
	case errors.Is(err, io.EOF):
		return vibemon.Errorf(vibemon.EINVALID, "The body is empty; a JSON object is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return vibemon.Errorf(vibemon.EINVALID, "The JSON body ends too early.")
	case errors.As(err, &syn):
		return vibemon.Errorf(vibemon.EINVALID, "Malformed JSON at byte %d: %s.", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return vibemon.Errorf(vibemon.EINVALID, "The body must be a JSON %s, not %s.", jsonType(typ.Type.String()), typ.Value)
		}
		return vibemon.Errorf(vibemon.EINVALID, "Field %q must be %s, not %s.", typ.Field, jsonType(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return vibemon.Errorf(vibemon.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	var ve *vibemon.Error
	if errors.As(err, &ve) {
		return ve
	}
	return vibemon.Errorf(vibemon.EINVALID, "Malformed JSON body.")
}

// jsonType names a Go type the way a JSON client thinks of it.
func jsonType(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string", strings.HasSuffix(goType, "Role"), strings.HasSuffix(goType, "Foundation"),
		strings.HasSuffix(goType, "Op"), strings.HasSuffix(goType, "Severity"), goType == "time.Time":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}
