package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderEventID   = "Arena-Event-Id"
	HeaderEventType = "Arena-Event-Type"
	HeaderAttempt   = "Arena-Attempt"
	HeaderTimestamp = "Arena-Timestamp"
	HeaderSignature = "Arena-Signature"
)

// SecretPrefix starts every endpoint secret, so that a leaked one is recognisable.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns.
var (
	ErrNoTimestamp     = errors.New("webhook: missing or malformed " + HeaderTimestamp)
	ErrTimestampTooOld = errors.New("webhook: timestamp outside the tolerance")
	ErrNoSignature     = errors.New("webhook: no v1 signature in " + HeaderSignature)
	ErrBadSignature    = errors.New("webhook: signature does not match")
)

// NewSecret returns a new endpoint secret: 32 random bytes, base64url, after SecretPrefix.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the Arena-Signature header's value for body sent at ts:
// "v1=" and the hex HMAC-SHA256, keyed with secret, of ts's Unix seconds, a
// full stop and body. The timestamp is signed so that a captured request
// cannot be replayed with a fresh Arena-Timestamp.
func Sign(secret string, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery as a receiver gets it: header is the
// Arena-Signature header, tsHeader the Arena-Timestamp header, body the raw
// body. It fails when the timestamp is more than tolerance (DefaultTolerance
// when zero or less) away from now, in either direction, or when no v1
// entry of header is the body's signature under secret. It returns one of
// the Err* values of this package.
func Verify(secret, header, tsHeader string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return ErrNoTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestampTooOld
	}
	want := mac(secret, tsHeader, body)
	found := false
	for entry := range strings.SplitSeq(header, ",") {
		scheme, value, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || scheme != "v1" {
			continue // another scheme, for a future algorithm
		}
		found = true
		got, err := hex.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrBadSignature
}
