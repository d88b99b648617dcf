// Package arena holds Arena's domain: sessions and their state machine,
// applications, nodes, organisations and the error codes every layer speaks.
//
// It depends on nothing but the standard library. Each dependency (Docker,
// SQLite, HTTP) lives in a package of its own that implements or consumes the
// types and small interfaces defined here; cmd/arena wires them together.
package arena

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Labels Arena puts on every container it starts. The agent finds and adopts
// its containers by them after a restart, and never touches a container
// without its own node label.
const (
	LabelSession = "io.arena.session"
	LabelNode    = "io.arena.node"
	LabelOrg     = "io.arena.org"
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

// Organization owns tokens, applications, sessions and usage.
type Organization struct {
	ID   string
	Name string
}

// Token is an API credential of an organisation. Only the hash of its secret is stored.
type Token struct {
	ID        string
	OrgID     string
	Name      string
	Hash      string
	CreatedAt time.Time
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
	// Scopes lists what the token may do beyond its organisation's Session
	// API, e.g. ScopeAdmin.
	Scopes []string
}

// ScopeAdmin lets a token operate the installation: nodes and their drain.
const ScopeAdmin = "admin"

// HasScope reports whether the token carries scope.
func (t *Token) HasScope(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Expired reports whether the token is no longer valid at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

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
