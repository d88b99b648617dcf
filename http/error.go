package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/arena-hq/arena"
)

// statusEnhanceYourCalm is the status the Gameye Session API answers when a
// location has no capacity or the caller is rate limited; net/http has no name for it.
const statusEnhanceYourCalm = 420

// Error codes of the transport's own. A method a path does not serve is no
// concern of the domain; nor is the one operation whose contract answers a
// malformed request 400 rather than 422.
//
// The others are answers to requests that are not the API's to read: a body
// of a media type the API does not take, and what net/http refuses before
// any handler runs (see Server).
const (
	codeMethodNotAllowed       = "method_not_allowed"
	codeBadRequest             = "bad_request"
	codeMalformedRequest       = "malformed_request"
	codeUnsupportedMediaType   = "unsupported_media_type"
	codeHeaderFieldsTooLarge   = "request_header_fields_too_large"
	codeNotImplemented         = "not_implemented"
	codeHTTPVersionUnsupported = "http_version_not_supported"
)

// transportCode returns the transport's own code answered with status, or
// "" when there is none: how an answer of net/http's gets a code.
func transportCode(status int) string {
	for _, code := range []string{codeMalformedRequest, codeHeaderFieldsTooLarge, codeNotImplemented, codeHTTPVersionUnsupported} {
		if errorKinds[code].status == status {
			return code
		}
	}
	return ""
}

// errorKinds is the only place where an error code becomes an HTTP status.
// Codes missing from it are answered as internal errors.
var errorKinds = map[string]struct {
	status int
	// details tells the caller what to do about it.
	details string
}{
	arena.EINVALID:             {http.StatusUnprocessableEntity, "Correct the fields listed in violations and send the request again."},
	arena.ENOTFOUND:            {http.StatusNotFound, "Check the path and the names or ids it refers to."},
	arena.ECONFLICT:            {http.StatusConflict, "The request contradicts the current state; look the entity up before retrying."},
	arena.EUNAVAILABLE:         {statusEnhanceYourCalm, "This is transient: retry after a short delay."},
	arena.EUNAUTHORIZED:        {http.StatusUnauthorized, "Send a valid token as Authorization: Bearer <token>."},
	arena.EFORBIDDEN:           {http.StatusForbidden, "Use a token that carries the scope named in the message."},
	arena.EQUOTA:               {http.StatusPaymentRequired, "Stop sessions you no longer need, or ask an operator to raise the organisation's quota."},
	arena.ENOTREADY:            {http.StatusServiceUnavailable, "Arena is starting: retry after the number of seconds in Retry-After."},
	arena.EINTERNAL:            {http.StatusInternalServerError, "Retry later; quote the identifier if the error persists."},
	codeMethodNotAllowed:       {http.StatusMethodNotAllowed, "Use one of the methods listed in the Allow header."},
	codeBadRequest:             {http.StatusBadRequest, "Correct the path segments listed in violations and send the request again."},
	codeMalformedRequest:       {http.StatusBadRequest, "The request is not valid HTTP/1.1; correct the client or what stands between it and Arena."},
	codeUnsupportedMediaType:   {http.StatusUnsupportedMediaType, "Send the body as JSON, with Content-Type: application/json (or none)."},
	codeHeaderFieldsTooLarge:   {http.StatusRequestHeaderFieldsTooLarge, "Send smaller request headers."},
	codeNotImplemented:         {http.StatusNotImplemented, "Send the body with a transfer coding HTTP/1.1 defines (chunked), or with Content-Length."},
	codeHTTPVersionUnsupported: {http.StatusHTTPVersionNotSupported, "Speak HTTP/1.1."},
}

// timestampLayout is RFC 3339 with milliseconds, the precision of the
// session timestamps the API returns.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// internalMessage replaces the message of every internal error: what went
// wrong inside Arena is for its logs, not for the caller.
const internalMessage = "An internal error occurred."

// errorResponse is the contract's ErrorResponse. Violations is never nil so
// that clients can range over it without a null check.
type errorResponse struct {
	StatusCode int               `json:"statusCode"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    string            `json:"details"`
	Path       string            `json:"path"`
	Identifier string            `json:"identifier"`
	Timestamp  string            `json:"timestamp"`
	Violations []arena.Violation `json:"violations"`
}

// writeError answers r with err as the API's error body.
func (s *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	s.obs.Error(err)
	code := arena.ErrorCode(err)
	kind, ok := errorKinds[code]
	if !ok {
		code, kind = arena.EINTERNAL, errorKinds[arena.EINTERNAL]
	}
	msg := arena.ErrorMessage(err)
	if code == arena.EINTERNAL {
		msg = internalMessage
		level := slog.LevelError
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			// The caller went away: nobody reads the answer, and the
			// fault is not Arena's.
			level = slog.LevelDebug
		}
		s.logger.Log(r.Context(), level, "internal error",
			"request_id", info.id, "method", r.Method, "path", r.URL.Path, "error", err)
	}
	violations := arena.ErrorViolations(err)
	if violations == nil {
		violations = []arena.Violation{}
	}
	if info.bodyUnread {
		// Refused before its body was read (a bad token, a body too large
		// or of the wrong type): the connection is closed rather than
		// kept, which would mean reading, at the client's pace, a body
		// nobody wants first. net/http still reads the rest of a small
		// body when the handler returns; a read deadline in the past ends
		// that at once.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
	}
	if kind.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="arena"`)
	}
	var ae *arena.Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", seconds(ae.RetryAfter))
	}
	s.writeJSON(w, r, kind.status, errorResponse{
		StatusCode: kind.status,
		Code:       code,
		Message:    msg,
		Details:    kind.details,
		Path:       r.URL.Path,
		Identifier: info.id,
		Timestamp:  time.Now().UTC().Format(timestampLayout),
		Violations: violations,
	})
}

// writeJSON answers r with v. The values it is given always marshal, so a
// failure is a bug: it is logged and answered with a bare 500.
func (s *api) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "encoding response", "request_id", infoFrom(r.Context()).id, "error", err)
		http.Error(w, internalMessage, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// seconds is d as a Retry-After value: whole seconds, rounded up, as RFC
// 9110 has it.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
