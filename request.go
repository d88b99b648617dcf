package arena

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Bounds on what a caller may put into a session. They keep one request from
// costing the store or a node more than a game server plausibly needs.
const (
	MaxIDLength      = 128
	MaxNameLength    = 128
	MaxEnvEntries    = 128
	MaxEnvValueBytes = 32 << 10
	MaxArgs          = 128
	MaxArgBytes      = 4 << 10
	MaxLabels        = 64
	MaxLabelKeyBytes = 128
	MaxLabelValBytes = 4 << 10
	MaxTTL           = 30 * 24 * time.Hour
	MaxExternalID    = 256
)

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// ValidateSessionID checks that id can name a session; EINVALID otherwise.
func ValidateSessionID(id string) error {
	switch {
	case len(id) > MaxIDLength:
		return Invalid(Violation{Field: "id", Description: fmt.Sprintf("must be at most %d characters", MaxIDLength)})
	case !idPattern.MatchString(id):
		return Invalid(Violation{Field: "id", Description: "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit"})
	}
	return nil
}

// SessionRequest asks for a new session (POST /session).
type SessionRequest struct {
	// ID is the caller's session id; empty means Arena generates a UUIDv4.
	ID string
	// ExternalID is the caller's own identifier, kept with the session.
	ExternalID string
	// Location names a location or a region.
	Location string
	// Image names an application of the caller's organisation.
	Image string
	// Version names one of the application's tags; empty means the default tag.
	Version string
	Env     map[string]string
	Args    []string
	Labels  map[string]string
	// TTL is the maximum lifetime; zero means none.
	TTL     time.Duration
	Restart bool
}

// Validate checks the request's own fields, listing every violation at once.
func (r *SessionRequest) Validate() error {
	var v []Violation
	add := func(field, format string, args ...any) {
		v = append(v, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
	if r.ID != "" {
		if err := ValidateSessionID(r.ID); err != nil {
			add("id", "%s", err.(*Error).Violations[0].Description)
		}
	}
	checkName := func(field, val string) {
		switch {
		case val == "":
			add(field, "is required")
		case len(val) > MaxNameLength:
			add(field, "must be at most %d characters", MaxNameLength)
		}
	}
	checkName("location", r.Location)
	checkName("image", r.Image)
	if len(r.Version) > MaxNameLength {
		add("version", "must be at most %d characters", MaxNameLength)
	}
	if len(r.ExternalID) > MaxExternalID {
		add("external_id", "must be at most %d bytes", MaxExternalID)
	}
	if len(r.Env) > MaxEnvEntries {
		add("env", "must have at most %d entries", MaxEnvEntries)
	}
	for k, val := range r.Env {
		switch {
		case !envKeyPattern.MatchString(k) || len(k) > MaxLabelKeyBytes:
			add("env."+k, "is not a valid environment variable name")
		case len(val) > MaxEnvValueBytes:
			add("env."+k, "must be at most %d bytes", MaxEnvValueBytes)
		}
	}
	if len(r.Args) > MaxArgs {
		add("args", "must have at most %d entries", MaxArgs)
	}
	for i, a := range r.Args {
		if len(a) > MaxArgBytes {
			add(fmt.Sprintf("args[%d]", i), "must be at most %d bytes", MaxArgBytes)
		}
	}
	if len(r.Labels) > MaxLabels {
		add("labels", "must have at most %d entries", MaxLabels)
	}
	for k, val := range r.Labels {
		switch {
		case k == "" || len(k) > MaxLabelKeyBytes:
			add("labels", "keys must be 1 to %d bytes", MaxLabelKeyBytes)
		case len(val) > MaxLabelValBytes:
			add("labels."+k, "must be at most %d bytes", MaxLabelValBytes)
		}
	}
	if r.TTL < 0 || r.TTL > MaxTTL {
		add("ttl", "must be between 0 and %d seconds (%s)", int64(MaxTTL/time.Second), FormatLifetime(MaxTTL))
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// Fingerprint identifies the request's content, so that a retry of a create
// (same id, same body) can be told from a different request reusing an id.
// Absent and empty values have the same fingerprint, as they mean the same.
func (r *SessionRequest) Fingerprint() string {
	canonical := struct {
		ID, Location, Image, Version string
		Env, Labels                  map[string]string
		Args                         []string
		TTL                          time.Duration
		Restart                      bool
		ExternalID                   string `json:",omitempty"`
	}{r.ID, r.Location, r.Image, r.Version, nonEmpty(r.Env), nonEmpty(r.Labels), r.Args, r.TTL, r.Restart, r.ExternalID}
	if len(canonical.Args) == 0 {
		canonical.Args = nil
	}
	b, _ := json.Marshal(canonical) // maps marshal with sorted keys; nothing here can fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// SessionFilter narrows a session listing (GET /session).
type SessionFilter struct {
	// All includes stopped sessions.
	All bool
	// Location matches a session's location or region.
	Location string
	Image    string
	Tag      string
	Host     string
	// ExternalID matches the caller's own identifier of a session.
	ExternalID string
	// Labels must all be present with these values.
	Labels map[string]string
	// PlayerCountLT and PlayerCountGT bound the number of joined players when set.
	PlayerCountLT *int
	PlayerCountGT *int
}

// Match reports whether s passes the filter.
func (f *SessionFilter) Match(s *Session) bool {
	if !f.All && s.State == SessionStopped {
		return false
	}
	if f.Location != "" && f.Location != s.Location && f.Location != s.Region {
		return false
	}
	if (f.Image != "" && f.Image != s.Application) || (f.Tag != "" && f.Tag != s.Tag) || (f.Host != "" && f.Host != s.Host) ||
		(f.ExternalID != "" && f.ExternalID != s.ExternalID) {
		return false
	}
	for k, val := range f.Labels {
		if got, ok := s.Labels[k]; !ok || got != val {
			return false
		}
	}
	n := len(s.Players)
	if f.PlayerCountLT != nil && n >= *f.PlayerCountLT {
		return false
	}
	if f.PlayerCountGT != nil && n <= *f.PlayerCountGT {
		return false
	}
	return true
}

// MaxPlayers bounds the players one session tracks, and one request names.
const MaxPlayers = 1024

// ValidatePlayers checks a list of player ids given in field.
func ValidatePlayers(field string, players []string) error {
	var v []Violation
	switch {
	case len(players) == 0:
		v = append(v, Violation{Field: field, Description: "must name at least one player"})
	case len(players) > MaxPlayers:
		v = append(v, Violation{Field: field, Description: fmt.Sprintf("must name at most %d players", MaxPlayers)})
	}
	for i, p := range players {
		if p == "" || len(p) > MaxIDLength {
			v = append(v, Violation{Field: fmt.Sprintf("%s[%d]", field, i), Description: fmt.Sprintf("must be 1 to %d characters", MaxIDLength)})
		}
	}
	if len(v) > 0 {
		return Invalid(v...)
	}
	return nil
}

// lifetimePattern is the grammar of a lifetime such as "30m", "1h" or
// "2h30m": hours, then minutes, each optional and either with decimals.
var lifetimePattern = regexp.MustCompile(`^(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+(?:\.[0-9]+)?)m)?$`)

// ParseLifetime reads a lifetime as the Gameye API writes ttl and
// expires_after: hours and minutes ("30m", "1h", "2h30m", "1.5h"), the only
// units it has. A lifetime under a minute is rounded up to a minute, as that
// API has it. It fails with a message fit for a violation.
func ParseLifetime(s string) (time.Duration, error) {
	m := lifetimePattern.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("must be a duration in hours and minutes such as 30m, 1h or 2h30m")
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute} {
		if m[i+1] == "" {
			continue
		}
		v, err := time.ParseDuration(m[i+1] + map[time.Duration]string{time.Hour: "h", time.Minute: "m"}[unit])
		if err != nil {
			// Only a number too large for a Duration gets here.
			return 0, fmt.Errorf("must be at most %s", FormatLifetime(MaxTTL))
		}
		d += v
		if d < 0 {
			return 0, fmt.Errorf("must be at most %s", FormatLifetime(MaxTTL))
		}
	}
	return max(d, time.Minute), nil
}

// FormatLifetime writes d as ParseLifetime reads it, in whole minutes.
func FormatLifetime(d time.Duration) string {
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dm", m)
}
