// Package cloud is what Arena's drivers of cloud providers share: the
// deadline of a call, the retry settings, and the classification of a
// failure that carries nothing more specific than an HTTP status or a
// broken connection into Arena's error codes.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/arena-hq/arena"
)

// Defaults of the drivers' settings. A call without a deadline of its own
// is bounded so that a provider that hangs cannot stall the scaler; the
// retries are few and short because the scaler passes a failing provider
// over and tries the next one instead of waiting.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRetries   = 3
	DefaultRetryWait    = time.Second
	DefaultRetryMaxWait = 8 * time.Second
)

// Retries returns the retry settings with the defaults in place of zeroes:
// maxRetries below zero means none.
func Retries(maxRetries int, wait, maxWait time.Duration) (int, time.Duration, time.Duration) {
	switch {
	case maxRetries < 0:
		maxRetries = 0
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	}
	if wait <= 0 {
		wait = DefaultRetryWait
	}
	if maxWait <= 0 {
		maxWait = max(DefaultRetryMaxWait, wait)
	}
	return maxRetries, wait, max(wait, maxWait)
}

// Context returns ctx bounded by timeout (DefaultTimeout when zero) unless
// ctx has a deadline already, which the caller chose and is kept.
func Context(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return context.WithTimeout(ctx, timeout)
}

// Fail returns the error of a failed call of provider name while doing
// something: its message is safe to show, and the cause is kept for the
// logs with every secret cut out, in case an SDK ever echoes one.
func Fail(code, name, doing, reason string, err error, secrets ...string) *arena.Error {
	return &arena.Error{Code: code, Message: fmt.Sprintf("%s: %s: %s", name, doing, reason), Err: Redact(err, secrets...)}
}

// Redact returns err, or an error of the same text with every secret
// replaced when the text holds one. The chain is dropped then, as any
// error in it could print the secret again.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	redacted := msg
	for _, s := range secrets {
		if s != "" {
			redacted = strings.ReplaceAll(redacted, s, "[redacted]")
		}
	}
	if redacted == msg {
		return err
	}
	return errors.New(redacted)
}

// Transport classifies an error that came without an answer of the API:
// the call's deadline, its cancellation, or the network. ok is false for
// any other error.
func Transport(err error) (code, reason string, ok bool) {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return arena.EUNAVAILABLE, "the provider did not answer in time", true
	case errors.Is(err, context.Canceled):
		return arena.EUNAVAILABLE, "the call was cancelled", true
	case errors.As(err, &netErr) && netErr.Timeout():
		return arena.EUNAVAILABLE, "the provider did not answer in time", true
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return arena.EUNAVAILABLE, "the provider's API is unreachable", true
	}
	return "", "", false
}

// Status classifies an answer of the API by its HTTP status alone, for
// errors that carry no code of the provider's. missing is the code of a
// 404: ENOTFOUND where a machine was asked for by id, EINVALID where the
// 404 is of something the spec named.
func Status(status int, missing string) (code, reason string) {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return arena.EUNAUTHORIZED, "the provider refused the credentials"
	case status == http.StatusNotFound:
		if missing == arena.ENOTFOUND {
			return arena.ENOTFOUND, "no such machine"
		}
		return missing, "the provider does not know what was asked for"
	case status == http.StatusTooManyRequests:
		return arena.EUNAVAILABLE, "rate limited by the provider"
	case status == http.StatusRequestTimeout || status == http.StatusConflict || status == http.StatusLocked:
		return arena.EUNAVAILABLE, fmt.Sprintf("the provider answered %d, which may pass", status)
	case status >= 500:
		return arena.EUNAVAILABLE, fmt.Sprintf("the provider failed (HTTP %d)", status)
	case status >= 400:
		return arena.EINVALID, fmt.Sprintf("the provider refused the request (HTTP %d)", status)
	}
	return arena.EINTERNAL, fmt.Sprintf("unexpected answer of the provider (HTTP %d)", status)
}
