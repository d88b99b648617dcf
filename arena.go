// Package arena holds Arena's domain: sessions and their state machine,
// applications, nodes, organisations and the error codes every layer speaks.
//
// It depends on nothing but the standard library. Each dependency (Docker,
// SQLite, HTTP) lives in a package of its own that implements or consumes the
// types and small interfaces defined here; cmd/arena wires them together.
package arena

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Labels Arena puts on every container it starts. The agent finds and adopts
// its containers by them after a restart, and never touches a container
// without its own node label, nor one of another installation.
const (
	LabelSession = "io.arena.session"
	LabelNode    = "io.arena.node"
	LabelOrg     = "io.arena.org"
	// LabelInstallation names the control plane whose session it is, so
	// that two installations on one engine whose nodes share an id still
	// leave each other's containers alone.
	LabelInstallation = "io.arena.installation"
)

// Environment variables injected into every session container.
const (
	EnvSessionID = "GAMEYE_SESSION_ID"
	EnvHost      = "GAMEYE_HOST"
	// EnvPortPrefix is followed by PROTOCOL_CONTAINERPORT, e.g. GAMEYE_PORT_UDP_7777.
	EnvPortPrefix = "GAMEYE_PORT_"
)

// Resources is an amount of CPU and memory: a node's capacity or what a
// session reserves. Arena never places more than a node's capacity.
type Resources struct {
	// MilliCPU is thousandths of a CPU core.
	MilliCPU int64 `json:"milliCpu" yaml:"milliCpu"`
	// MemoryMB is mebibytes of memory.
	MemoryMB int64 `json:"memoryMb" yaml:"memoryMb"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, MemoryMB: r.MemoryMB + o.MemoryMB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, MemoryMB: r.MemoryMB - o.MemoryMB}
}

// Fits reports whether o fits within r.
func (r Resources) Fits(o Resources) bool {
	return o.MilliCPU <= r.MilliCPU && o.MemoryMB <= r.MemoryMB
}

// Environment tells an organisation's purpose. A studio gets one
// organisation per environment, each with its own tokens, applications,
// sessions and usage, behind the same API: a sandbox to integrate against
// and production for players.
type Environment string

// Environments an organisation can be.
const (
	EnvSandbox    Environment = "sandbox"
	EnvProduction Environment = "production"
)

// Organization owns users, tokens, applications, sessions and usage.
type Organization struct {
	ID          string
	Name        string
	Environment Environment
	// Quota bounds what the organisation's sessions may hold at once.
	Quota Quota
	// QuotaSource is SourceConfig while the config file sets Quota: the
	// file owns it then, and the admin API may not change it. Otherwise
	// it is empty.
	QuotaSource string
	CreatedAt   time.Time
}

// Quota bounds an organisation's active sessions: how many there are and
// how much CPU they reserve. A zero field is no bound. A create that would
// pass a bound is refused with EQUOTA, decided together with capacity so
// that concurrent creates cannot overshoot it.
type Quota struct {
	MaxSessions int
	MaxMilliCPU int64
}

// Bounds of a quota, so that a typing slip cannot overflow a tally.
const (
	MaxQuotaSessions = 1_000_000
	MaxQuotaMilliCPU = 1_000_000_000 // a million cores
)

// Validate checks that each bound is zero (none) or a positive number
// within MaxQuotaSessions and MaxQuotaMilliCPU. Violations name the admin
// API's fields.
func (q Quota) Validate() error {
	var v []Violation
	if q.MaxSessions < 0 || q.MaxSessions > MaxQuotaSessions {
		v = append(v, Violation{Field: "maxSessions", Description: fmt.Sprintf("must be between 0 (no bound) and %d", MaxQuotaSessions)})
	}
	if q.MaxMilliCPU < 0 || q.MaxMilliCPU > MaxQuotaMilliCPU {
		v = append(v, Violation{Field: "maxMilliCpu", Description: fmt.Sprintf("must be between 0 (no bound) and %d", MaxQuotaMilliCPU)})
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// QuotaUsage is what an organisation's active sessions hold of its quota:
// how many there are and the CPU they reserve.
type QuotaUsage struct {
	Sessions int
	MilliCPU int64
}

// User is a member of an organisation: a person, or a service such as a
// matchmaker. Tokens may be issued to a user; removing the user revokes them.
type User struct {
	ID        string
	OrgID     string
	Email     string
	Name      string
	CreatedAt time.Time
}

// Token is an API credential of an organisation. Only the hash of its secret is stored.
type Token struct {
	ID    string
	OrgID string
	// UserID is the user the token was issued to; empty for none.
	UserID    string
	Name      string
	Hash      string
	CreatedAt time.Time
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
	// RevokedAt is when the token was revoked; zero while it is not.
	RevokedAt time.Time
	// Scopes lists what the token may do; see Allows.
	Scopes []string
	// RateLimit is the requests per second the token may make, with bursts
	// of RateBurst; zero takes the installation's default.
	RateLimit float64
	RateBurst int
}

// TokenRequest asks for a new token.
type TokenRequest struct {
	Name   string
	UserID string
	// Scopes default to SessionScopes.
	Scopes []string
	// ExpiresIn is the token's lifetime; zero for one that does not expire.
	ExpiresIn time.Duration
	RateLimit float64
	RateBurst int
	// UniqueName refuses, with ECONFLICT, a name that a token of the
	// organisation in force (neither revoked nor expired) has, as the
	// Gameye API's POST /token does.
	UniqueName bool
}

// Scopes a token may carry.
const (
	ScopeSessionsRead  = "sessions:read"  // list and describe sessions, locations, tags
	ScopeSessionsWrite = "sessions:write" // create and stop sessions, players join and leave
	ScopeLogs          = "logs"           // read sessions' output
	ScopeArtifacts     = "artifacts"      // download sessions' artifacts
	ScopeUsage         = "usage"          // read usage and cost
	// ScopeAdmin manages the token's own organisation (users, tokens,
	// applications) and allows all of its Session API.
	ScopeAdmin = "admin"
	// ScopeOperator runs the installation: nodes, organisations, and admin
	// of every organisation.
	ScopeOperator = "operator"
)

// Scopes of the Gameye API's current revision, one per kind of operation.
// Tokens may carry them instead of Arena's broader scopes, as tokens made
// for that API do.
const (
	ScopeSessionStart     = "session:start"     // create sessions; players join and leave
	ScopeSessionRead      = "session:read"      // list and describe sessions
	ScopeSessionStop      = "session:stop"      // stop sessions
	ScopeLogsRead         = "logs:read"         // read sessions' output
	ScopeArtifactRead     = "artifact:read"     // download sessions' artifacts
	ScopeRegionsRead      = "regions:read"      // regions, available locations, tags
	ScopeApplicationRead  = "application:read"  // list applications and their registries' tags
	ScopeApplicationWrite = "application:write" // create and edit applications, enable tags
)

// SessionScopes are the scopes of the Session API, the default of a new token.
var SessionScopes = []string{ScopeSessionsRead, ScopeSessionsWrite, ScopeLogs, ScopeArtifacts, ScopeUsage}

// scopeImplies is the one table of what each scope allows besides itself:
// Arena's broad scopes grant the narrow ones of the Gameye API, so that an
// operation names the narrowest scope that covers it and tokens of either
// kind work.
var scopeImplies = map[string][]string{
	ScopeSessionsRead:  {ScopeSessionRead, ScopeRegionsRead},
	ScopeSessionsWrite: {ScopeSessionStart, ScopeSessionStop},
	ScopeLogs:          {ScopeLogsRead},
	ScopeArtifacts:     {ScopeArtifactRead},
	ScopeAdmin: {
		ScopeSessionsRead, ScopeSessionsWrite, ScopeLogs, ScopeArtifacts, ScopeUsage,
		ScopeSessionStart, ScopeSessionRead, ScopeSessionStop, ScopeLogsRead, ScopeArtifactRead,
		ScopeRegionsRead, ScopeApplicationRead, ScopeApplicationWrite,
	},
	ScopeApplicationWrite: {ScopeApplicationRead},
}

// AllScopes lists every scope, for validation.
var AllScopes = []string{
	ScopeSessionsRead, ScopeSessionsWrite, ScopeLogs, ScopeArtifacts, ScopeUsage, ScopeAdmin, ScopeOperator,
	ScopeSessionStart, ScopeSessionRead, ScopeSessionStop, ScopeLogsRead, ScopeArtifactRead,
	ScopeRegionsRead, ScopeApplicationRead, ScopeApplicationWrite,
}

// ValidScope reports whether s is a scope Arena knows.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// HasScope reports whether the token carries scope itself.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Allows reports whether the token may act with scope within its own
// organisation: it carries the scope, or one that implies it (see
// scopeImplies; operator implies everything).
func (t *Token) Allows(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == ScopeOperator || slices.Contains(scopeImplies[s], scope) {
			return true
		}
	}
	return false
}

// Expired reports whether the token is no longer valid at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Revoked reports whether the token has been revoked.
func (t *Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// HashToken returns the stored form of a token secret. Secrets are 256 random
// bits, so a plain SHA-256 is as strong as a slow hash and cheap on every request.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewTokenSecret returns a new random token secret.
func NewTokenSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return "arena_" + base64.RawURLEncoding.EncodeToString(b)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the API request it serves, so
// that what the layers below log can be traced to the request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
