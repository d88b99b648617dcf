package arena

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Every error that crosses a package boundary carries one of these,
// so that transports (HTTP, the agent protocol, the CLI) can classify errors
// without looking at their text.
const (
	EINVALID      = "invalid"      // the request is malformed or fails validation
	ENOTFOUND     = "not_found"    // the entity does not exist or belongs to another organisation
	ECONFLICT     = "conflict"     // the request contradicts the current state
	EUNAVAILABLE  = "unavailable"  // no capacity right now, or rate limited; retrying later may work
	EUNAUTHORIZED = "unauthorized" // the caller could not be authenticated
	EFORBIDDEN    = "forbidden"    // the caller is authenticated but its token lacks the scope
	EQUOTA        = "quota"        // the organisation has used up a quota; more capacity will not help
	ENOTREADY     = "not_ready"    // the process is still starting and serves nothing yet; retry shortly
	EPORTINUSE    = "port_in_use"  // a host port given to a container is taken on its node; other ports may work
	EINTERNAL     = "internal"     // a fault of Arena's own; details are logged, not returned
)

// Error is Arena's single error type.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message is safe to show to an API caller.
	Message string
	// Violations lists per-field problems of an EINVALID error.
	Violations []Violation
	// Err is the underlying cause, kept for logs and never shown to callers.
	Err error
	// RetryAfter, on an EUNAVAILABLE error, is how long the caller should
	// wait before trying again; zero when unknown.
	RetryAfter time.Duration
}

// Violation names one field of a request and what is wrong with it.
type Violation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps a cause as an EINTERNAL error whose message says what was being done.
func Internal(err error, doing string) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error while " + doing, Err: err}
}

// Invalid returns an EINVALID error listing the given violations.
func Invalid(violations ...Violation) *Error {
	msg := "the request is invalid"
	if len(violations) == 1 {
		msg = violations[0].Field + ": " + violations[0].Description
	}
	return &Error{Code: EINVALID, Message: msg, Violations: violations}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the message of an *Error,
// or a generic text for anything else so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorViolations returns the field violations carried by err, if any.
func ErrorViolations(err error) []Violation {
	var e *Error
	if errors.As(err, &e) {
		return e.Violations
	}
	return nil
}
