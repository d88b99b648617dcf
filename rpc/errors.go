package rpc

import (
	"errors"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
)

// connectCodes is how each arena error code travels. It is one-to-one, so
// that every arena code arrives as itself. EFORBIDDEN and EQUOTA are the
// Session API's alone and never cross the agent protocol: a node's
// credential that cannot act for a node is refused as PermissionDenied,
// which agents take as EUNAUTHORIZED and answer by joining again.
var connectCodes = map[string]connect.Code{
	arena.EINVALID:      connect.CodeInvalidArgument,
	arena.ENOTFOUND:     connect.CodeNotFound,
	arena.ECONFLICT:     connect.CodeFailedPrecondition,
	arena.EUNAVAILABLE:  connect.CodeUnavailable,
	arena.EUNAUTHORIZED: connect.CodeUnauthenticated,
	arena.EINTERNAL:     connect.CodeInternal,
}

// arenaCodes classifies every Connect code, including those no arena code
// is sent as: a proxy, the transport or the service itself may produce them.
var arenaCodes = map[connect.Code]string{
	connect.CodeCanceled:           arena.EUNAVAILABLE,
	connect.CodeUnknown:            arena.EINTERNAL,
	connect.CodeInvalidArgument:    arena.EINVALID,
	connect.CodeDeadlineExceeded:   arena.EUNAVAILABLE,
	connect.CodeNotFound:           arena.ENOTFOUND,
	connect.CodeAlreadyExists:      arena.ECONFLICT,
	connect.CodePermissionDenied:   arena.EUNAUTHORIZED,
	connect.CodeResourceExhausted:  arena.EUNAVAILABLE,
	connect.CodeFailedPrecondition: arena.ECONFLICT,
	connect.CodeAborted:            arena.ECONFLICT,
	connect.CodeOutOfRange:         arena.EINVALID,
	connect.CodeUnimplemented:      arena.EINTERNAL,
	connect.CodeInternal:           arena.EINTERNAL,
	connect.CodeUnavailable:        arena.EUNAVAILABLE,
	connect.CodeDataLoss:           arena.EINTERNAL,
	connect.CodeUnauthenticated:    arena.EUNAUTHORIZED,
}

// toConnect turns an error of the control plane into what the agent may see:
// its code and caller-safe message, never its cause.
func toConnect(err error) *connect.Error {
	code, ok := connectCodes[arena.ErrorCode(err)]
	if !ok {
		code = connect.CodeInternal
	}
	return connect.NewError(code, errors.New(arena.ErrorMessage(err)))
}

// fromConnect turns the error of a call into an arena error. An error the
// control plane sent keeps its message; one that arose on the way (a refused
// connection, an expired context) keeps its cause, so that errors.Is still
// finds context.Canceled or context.DeadlineExceeded.
func fromConnect(err error) error {
	if err == nil {
		return nil
	}
	code, ok := arenaCodes[connect.CodeOf(err)]
	if !ok {
		code = arena.EINTERNAL
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return &arena.Error{Code: code, Message: "the call to the control plane failed", Err: err}
	}
	if connect.IsWireError(err) {
		return &arena.Error{Code: code, Message: ce.Message()}
	}
	cause := ce.Unwrap()
	if cause == nil {
		cause = ce
	}
	return &arena.Error{Code: code, Message: "the call to the control plane failed", Err: cause}
}
