package webhook

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := NewSecret()
	body := []byte(`{"id":"e1","type":"session.started"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, now, body)

	tests := []struct {
		name      string
		secret    string
		header    string
		ts        string
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{name: "round trip", secret: secret, header: sig, ts: ts, body: body, now: now},
		{name: "within tolerance", secret: secret, header: sig, ts: ts, body: body, now: now.Add(4 * time.Minute)},
		{name: "rotation: any v1 entry", secret: secret, header: "v1=00ff, " + sig + ",v0=abc", ts: ts, body: body, now: now},
		{name: "changed body", secret: secret, header: sig, ts: ts, body: []byte(`{"id":"e1","type":"session.stopped"}`), now: now, want: ErrBadSignature},
		{name: "wrong secret", secret: NewSecret(), header: sig, ts: ts, body: body, now: now, want: ErrBadSignature},
		{name: "replayed later", secret: secret, header: sig, ts: ts, body: body, now: now.Add(6 * time.Minute), want: ErrTimestampTooOld},
		{name: "from the future", secret: secret, header: sig, ts: ts, body: body, now: now.Add(-6 * time.Minute), want: ErrTimestampTooOld},
		{name: "own tolerance", secret: secret, header: sig, ts: ts, body: body, tolerance: 30 * time.Second, now: now.Add(time.Minute), want: ErrTimestampTooOld},
		{name: "fresh timestamp on an old signature", secret: secret, header: sig, ts: strconv.FormatInt(now.Unix()+60, 10), body: body, now: now.Add(time.Minute), want: ErrBadSignature},
		{name: "missing timestamp", secret: secret, header: sig, ts: "", body: body, now: now, want: ErrNoTimestamp},
		{name: "malformed timestamp", secret: secret, header: sig, ts: "yesterday", body: body, now: now, want: ErrNoTimestamp},
		{name: "missing signature", secret: secret, header: "", ts: ts, body: body, now: now, want: ErrNoSignature},
		{name: "other scheme only", secret: secret, header: "v0=" + strings.TrimPrefix(sig, "v1="), ts: ts, body: body, now: now, want: ErrNoSignature},
		{name: "not hex", secret: secret, header: "v1=zz", ts: ts, body: body, now: now, want: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.ts, tt.body, tt.tolerance, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignIsHexHMACOfTimestampDotBody(t *testing.T) {
	// A fixed vector, so that a receiver in another language can check its
	// implementation against the same numbers:
	//   printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
	got := Sign("whsec_test", time.Unix(1_700_000_000, 0), []byte("{}"))
	const want = "v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if !strings.HasPrefix(a, SecretPrefix) || len(a) != len(SecretPrefix)+43 {
		t.Fatalf("NewSecret = %q, want %s and 43 base64url characters (32 bytes)", a, SecretPrefix)
	}
	if a == b {
		t.Fatal("two secrets are equal")
	}
}
