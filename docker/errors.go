package docker

import (
	"context"
	"errors"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/arena-hq/arena"
)

// errorCode classifies an error of the Docker client by its type, never by
// its text: the engine's messages change between versions, its status codes
// do not.
func errorCode(err error) string {
	switch {
	case cerrdefs.IsNotFound(err):
		return arena.ENOTFOUND
	case cerrdefs.IsConflict(err):
		return arena.ECONFLICT
	case cerrdefs.IsUnauthorized(err), cerrdefs.IsPermissionDenied(err):
		// A registry refused the credentials.
		return arena.EUNAUTHORIZED
	case client.IsErrConnectionFailed(err),
		cerrdefs.IsUnavailable(err),
		errors.Is(err, context.DeadlineExceeded):
		// A call that timed out met an engine too busy or hung to answer:
		// to the caller that is the same as one it cannot reach.
		return arena.EUNAVAILABLE
	}
	return arena.EINTERNAL
}

// wrapError turns an error of the Docker client into an *arena.Error whose
// message says what was being done. The cause stays in the chain, so that
// errors.Is(err, context.Canceled) and the like keep working.
func wrapError(err error, doing string) error {
	if err == nil {
		return nil
	}
	switch code := errorCode(err); code {
	case arena.ENOTFOUND:
		return &arena.Error{Code: code, Message: doing + ": not found", Err: err}
	case arena.ECONFLICT:
		return &arena.Error{Code: code, Message: doing + ": conflict", Err: err}
	case arena.EUNAVAILABLE:
		return &arena.Error{Code: code, Message: doing + ": docker engine unavailable", Err: err}
	}
	return arena.Internal(err, doing)
}

// portInUse reports whether the engine refused to start a container because
// a host port it publishes is taken: by a socket on the host ("address
// already in use", from binding the port) or by another container ("port is
// already allocated", from the engine's own bookkeeping). The engine answers
// both with a plain internal error, so its text is all there is to tell
// them by; Docker 20.10 to 28 word them so. Only a start that publishes
// ports is asked about, so that no other failure is taken for one.
func portInUse(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")
}
