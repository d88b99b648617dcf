// Package webhook delivers an organisation's session lifecycle events to the
// URLs it registered, signed, with retries, so that a matchmaker learns of a
// session's changes without polling GET /session.
//
// # Events
//
// Six event types exist. Four tell of sessions: session.started (placed, container starting),
// session.running (the process runs, also again after a restart or after its
// node came back), session.stopped (for good, with stopReason, exitCode
// and, when its node stopped it by itself, stopMessage: why a start failed,
// a crash loop, a container lost) and session.unreachable (its node stopped reporting). Two tell
// operators of the cloud capacity Arena adds and retires itself: node.added (a machine it ordered
// joined) and node.retired (one was drained, removed and deleted); they carry a "node" object (id,
// region, provider, providerId, instanceType, costPerHour, capacity, reason) instead of "session", and
// go to the organisation the cloud section's eventsOrg names alone. An endpoint receives
// the types it lists, or all of them when it lists none. Receivers should
// ignore types they do not know: more may be added.
//
// Each event is one POST with a JSON body:
//
//	{"id": "3f1c…", "type": "session.stopped", "at": "2025-01-02T03:04:05.678Z",
//	 "session": {"id": "…", "status": "exited", "image": "echo", "tag": "v1",
//	             "location": "eu-ams-1", "host": "203.0.113.7",
//	             "ports": [{"type": "udp", "container": 7777, "host": 32769}],
//	             "labels": {"match": "42"}, "stopReason": "deleted", "exitCode": 0}}
//
// and these headers:
//
//	Content-Type:     application/json
//	Arena-Event-Id:   the event's id, as in the body
//	Arena-Event-Type: the event's type, as in the body
//	Arena-Attempt:    1 for the first attempt, 2 for the first retry, …
//	Arena-Timestamp:  when this attempt was signed, in Unix seconds
//	Arena-Signature:  v1=<hex HMAC-SHA256>
//
// # Verifying a request
//
// The signature is an HMAC-SHA256, keyed with the endpoint's secret (the
// whole string as Arena showed it, "whsec_" prefix included), of the
// Arena-Timestamp header's value, a full stop, and the raw request body:
//
//	expected = hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// A receiver should:
//
//  1. read the raw body before parsing it (re-encoding the JSON changes the bytes);
//  2. compute the expected signature over the Arena-Timestamp header and the body;
//  3. accept the request if any comma-separated "v1=" entry of
//     Arena-Signature equals it, comparing in constant time, ignoring
//     entries of other schemes (several entries make room for rotating a
//     secret; other schemes for a future algorithm);
//  4. reject it if the timestamp is more than a few minutes (five is usual)
//     from its own clock: the timestamp is part of what is signed, so a
//     captured request cannot be replayed later with a fresh one.
//
// For example, the secret "whsec_test", the timestamp 1700000000 and the
// body "{}" give "v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
// (printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test). Go
// receivers can call Verify, which does all of this.
//
// # Delivery
//
// A 2xx answer means delivered. 410 Gone means the receiver does not want
// this event: it is not retried (the endpoint stays registered). Any other
// answer, a timeout (Config.Timeout per attempt, 10s by default) or a
// connection error is retried with exponential backoff and jitter, up to
// Config.MaxAttempts attempts (by default 16 over about an hour); a
// Retry-After header can lengthen a wait, never beyond Config.MaxBackoff.
// A retry goes to the endpoint as it is then: one that was removed, or no
// longer wants the event's type, gets no more retries, and a new secret or
// URL applies at once.
// Redirects are not followed: a signed payload must reach only the URL its
// organisation registered, so a 3xx counts as a failure. Only the first
// 64 KiB of an answer are read.
//
// Delivery is at least once: an attempt whose answer was lost is retried, so
// a receiver can see an event more than once and should de-duplicate by its
// id, which stays the same across attempts (so does the body; only
// Arena-Timestamp, Arena-Signature and Arena-Attempt change). Order is not
// guaranteed, not even per endpoint or per session: attempts run in
// parallel and a retried event arrives after newer ones. Use "at" to order a
// session's events, and GET /session/{id} when in doubt.
//
// With a Config.Outbox (Arena keeps it in its store), each delivery is kept
// from the moment its event is fanned out to the endpoint until it is done:
// delivered, refused with 410, given up, or its endpoint removed. A new
// dispatcher (after a restart of the control plane, or on a new leader)
// resumes those it finds, with their attempts counted on, at the time their
// next attempt was due. A delivery whose end was not recorded, the control
// plane stopping mid-attempt say, is made again: receivers de-duplicate by
// the event id. What is lost when the control plane stops is what waited in
// memory only: events published in the moment before their fan-out. When
// the queues are full (see Config.Queue and Config.EndpointQueue), events
// are dropped and counted. A receiver that was down for long should
// reconcile with GET /session.
package webhook
