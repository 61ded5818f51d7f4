package vibemon

import (
	"errors"
	"fmt"
)

// Application error codes. Each maps to exactly one HTTP status in httpapi.
const (
	ECONFLICT     = "conflict"     // the request conflicts with the current state
	EFORBIDDEN    = "forbidden"    // authenticated, but the role may not do this
	EINTERNAL     = "internal"     // a bug or an outside failure; never caused by input
	EINVALID      = "invalid"      // the input is malformed or out of range
	ENOTFOUND     = "not_found"    // no such row in the caller's organization
	ETOOLARGE     = "too_large"    // the body or batch exceeds a limit
	ERATELIMIT    = "rate_limited" // too many requests
	EUNAUTHORIZED = "unauthorized" // missing, expired or invalid credentials
	EUNAVAILABLE  = "unavailable"  // a backend is down; retry later
)

// Error is the application error: a machine-readable Code and a message that
// a user can act on. Errors of other types are treated as EINTERNAL.
type Error struct {
	Code    string
	Message string
}

// Error returns the message, prefixed with the code.
func (e *Error) Error() string {
	return fmt.Sprintf("vibemon error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, "" for
// nil and a generic message for any other error, so that internal details
// never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
