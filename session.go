package arena

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// SessionState is the lifecycle state of a session. The transitions allowed
// between states are listed in sessionTransitions; every change of state goes
// through Session.Transition.
type SessionState string

const (
	// SessionStarted: placed on a node with ports and capacity reserved; the
	// container is being created. Not yet billed.
	SessionStarted SessionState = "started"
	// SessionRunning: the container's process runs. Billed per second.
	SessionRunning SessionState = "running"
	// SessionRestarting: the process crashed and is being restarted
	// (restart: true). Still billed: the reservation is held.
	SessionRestarting SessionState = "restarting"
	// SessionStopping: a stop was asked for (DELETE, TTL); recorded before the
	// container is signalled, so that a restart of any part carries it on.
	SessionStopping SessionState = "stopping"
	// SessionStopped: the container is gone or exited for good. Terminal.
	SessionStopped SessionState = "stopped"
	// SessionUnreachable: the node stopped reporting; the truth is unknown
	// until it comes back.
	SessionUnreachable SessionState = "unreachable"
)

var sessionTransitions = map[SessionState][]SessionState{
	SessionStarted:     {SessionRunning, SessionStopping, SessionStopped, SessionUnreachable},
	SessionRunning:     {SessionRestarting, SessionStopping, SessionStopped, SessionUnreachable},
	SessionRestarting:  {SessionRunning, SessionStopping, SessionStopped, SessionUnreachable},
	SessionStopping:    {SessionStopped, SessionUnreachable},
	SessionUnreachable: {SessionStarted, SessionRunning, SessionRestarting, SessionStopping, SessionStopped},
	SessionStopped:     nil,
}

// CanTransition reports whether a session may move from s to to.
func (s SessionState) CanTransition(to SessionState) bool {
	for _, t := range sessionTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// Active reports whether a session in state s still holds its node's resources.
func (s SessionState) Active() bool { return s != SessionStopped }

// Valid reports whether s is a known state.
func (s SessionState) Valid() bool {
	_, ok := sessionTransitions[s]
	return ok
}

// StopReason records why a session stopped or is stopping.
type StopReason string

// Reasons a session stops.
const (
	StopDeleted   StopReason = "deleted"   // DELETE /session/{id}
	StopTTL       StopReason = "ttl"       // its ttl expired
	StopExited    StopReason = "exited"    // the process exited by itself
	StopCrashLoop StopReason = "crashloop" // restart: true gave up on a crash loop
	StopFailed    StopReason = "failed"    // the container could not be started
	StopLost      StopReason = "lost"      // the container disappeared from its node
)

// Session is one running instance of an application: a container on a node.
type Session struct {
	// ID is the session's key across the installation: SessionKey of its
	// organisation and Name. Stores, nodes and containers know it by this.
	ID string
	// Name is the id the organisation knows the session by, the Session
	// API's "id": its own or one Arena made, unique within the organisation
	// only. Empty for a session created before ids were per organisation,
	// whose Name is its ID.
	Name  string
	OrgID string
	// ExternalID is the caller's own identifier of the session (the Session
	// API's "external_id"), kept and shown but not interpreted.
	ExternalID string
	// Pool is the warm pool the session waits in, started and ready, for
	// a create to claim it; empty for a session a caller created or
	// claimed. ClaimedAt is when a create claimed it from its pool: its
	// TTL and its billing count from then.
	Pool      string
	ClaimedAt time.Time
	// Launcher tells that the session's container runs Arena's launcher,
	// as a warm pool in launch mode starts them: the game server starts
	// only once the session is claimed, with the claim's env and args.
	Launcher bool
	// Application is the Session API's "image": the application's name.
	Application string
	// Tag is the Session API's "version".
	Tag string
	// Image is the container image reference that runs.
	Image    string
	Region   string
	Location string
	NodeID   string
	// Host is the address players connect to.
	Host    string
	Network NetworkMode
	Ports   []Port
	Env     map[string]string
	Args    []string
	Labels  map[string]string
	// TTL is the maximum lifetime from creation; zero means none.
	TTL     time.Duration
	Restart bool
	// Resources is what placement booked on the node; Limits caps the
	// container, zero taking Resources.
	Resources Resources
	Limits    Resources
	StopGrace time.Duration
	Players   []string
	// ArtifactPaths are the files and folders kept for download when the
	// session stops, from its application.
	ArtifactPaths []string
	// Security is whom the process runs as and what it may write, from its
	// application when the session was created.
	Security ContainerSecurity
	// Readiness tells when the game server is ready, and the session
	// running, from its application when the session was created.
	Readiness Readiness
	// RequestHash is the Fingerprint of the request that created the session:
	// a retry of the same request is answered with this session instead of a conflict.
	RequestHash string

	State      SessionState
	StopReason StopReason
	// StopMessage says what happened when the session's node stopped it by
	// itself (why a start failed, a crash loop, a container lost); empty
	// for a stop that was asked for.
	StopMessage string
	// ExitCode is the process's last exit code, or -1 when unknown.
	ExitCode int
	Restarts int

	CreatedAt time.Time
	// RunningAt is when the process first ran: billing starts here.
	RunningAt time.Time
	// StoppingAt is when a stop was asked for (DELETE, TTL): billing ends
	// here even though the process has its grace period to exit.
	StoppingAt time.Time
	// StoppedAt is when the process ended for good: billing ends here at
	// the latest.
	StoppedAt time.Time
	// UnreachableSince is the node's last heartbeat while the session is
	// unreachable: billing pauses there until the node says what happened.
	UnreachableSince time.Time
	UpdatedAt        time.Time
}

// Transition moves the session to state to at time at, or returns an
// ECONFLICT error when the state machine does not allow it.
func (s *Session) Transition(to SessionState, at time.Time) error {
	if s.State == to {
		return nil
	}
	if !s.State.CanTransition(to) {
		return Errorf(ECONFLICT, "session %s cannot go from %s to %s", s.ID, s.State, to)
	}
	s.State = to
	s.UpdatedAt = at
	switch to {
	case SessionRunning:
		if s.RunningAt.IsZero() {
			s.RunningAt = at
		}
	case SessionStopping:
		if s.StoppingAt.IsZero() {
			s.StoppingAt = at
		}
	case SessionStopped:
		if s.StoppedAt.IsZero() {
			s.StoppedAt = at
		}
	}
	return nil
}

// Status returns the session's status as the Gameye Session API names it.
func (s *Session) Status() string {
	switch s.State {
	case SessionStarted:
		return "created"
	case SessionRunning:
		return "running"
	case SessionRestarting:
		return "restarting"
	case SessionStopping:
		return "shuttingdown"
	case SessionUnreachable:
		return "server_unreachable"
	case SessionStopped:
		if s.StopReason == StopFailed || s.StopReason == StopCrashLoop || s.StopReason == StopLost {
			return "dead"
		}
		return "exited"
	}
	return string(s.State)
}

// BillingEnd is when the session stops being billed: the moment a stop was
// asked for, the process ended or its node went silent, whichever came first;
// now while it is active and reachable.
func (s *Session) BillingEnd(now time.Time) time.Time {
	end := s.StoppedAt
	if end.IsZero() {
		end = now
	}
	if !s.StoppingAt.IsZero() && s.StoppingAt.Before(end) {
		end = s.StoppingAt
	}
	if !s.UnreachableSince.IsZero() && s.UnreachableSince.Before(end) {
		end = s.UnreachableSince
	}
	return end
}

// Claim makes a session waiting, ready, in a warm pool the session of a
// create at at: it leaves the pool, and its life as the caller's begins,
// its TTL and billing counted from then. One whose container waits in the
// launcher (Launcher) is started again, since its game server starts only
// now: it is running, and billed, once that is ready, as a cold start is.
// Any other is running at once. ECONFLICT for a session not ready in a pool.
func (s *Session) Claim(at time.Time) error {
	if s.Pool == "" || s.State != SessionRunning {
		return Errorf(ECONFLICT, "session %s is not ready in a warm pool", s.ID)
	}
	s.Pool, s.ClaimedAt, s.UpdatedAt = "", at, at
	if s.Launcher {
		s.State, s.RunningAt = SessionStarted, time.Time{}
		return nil
	}
	s.RunningAt = at
	return nil
}

// PoolPeriod returns when the session waited in a warm pool, booked but
// nobody's: from its start to its claim, or, never claimed, to its
// BillingEnd (now for one still waiting). Zero for a session that never
// was in a pool.
func (s *Session) PoolPeriod(now time.Time) (start, end time.Time) {
	switch {
	case !s.ClaimedAt.IsZero():
		return s.CreatedAt, s.ClaimedAt
	case s.Pool != "":
		return s.CreatedAt, s.BillingEnd(now)
	}
	return time.Time{}, time.Time{}
}

// BilledSeconds is the session's billable time: from RunningAt to BillingEnd,
// with a started second counted whole. A session that never ran is not billed.
func (s *Session) BilledSeconds(now time.Time) int64 {
	if s.RunningAt.IsZero() {
		return 0
	}
	// Wall-clock readings only (Round(0) drops the monotonic one): the bill
	// must follow from the stored timestamps, which have no monotonic part,
	// and the two clocks drift apart by milliseconds a second on some hosts.
	d := s.BillingEnd(now).Round(0).Sub(s.RunningAt.Round(0))
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// PublicID returns the id the Session API shows: Name, or ID for a session
// from before ids were per organisation.
func (s *Session) PublicID() string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// SessionKey returns the installation-wide key of an organisation's session
// id. Keys are derived rather than looked up, so that any part of Arena can
// find a session from what the API was given; two organisations using one
// id get two sessions, and neither can learn that the other's exists.
func SessionKey(orgID, id string) string {
	sum := sha256.Sum256([]byte(orgID + "\x00" + id))
	return "s-" + hex.EncodeToString(sum[:16])
}

// ContainerName is the name of the session's container on its node.
func (s *Session) ContainerName() string {
	return ContainerNameOf(s.ID)
}

// ContainerNameOf is the container name of the session with id.
func ContainerNameOf(id string) string {
	return fmt.Sprintf("arena-%s", id)
}

// Usage is the billing record of one stopped session.
type Usage struct {
	SessionID   string
	OrgID       string
	Application string
	Location    string
	Resources   Resources
	Start       time.Time
	End         time.Time
	Seconds     int64
	// PoolStart and PoolEnd bound the time the session waited in a warm
	// pool: booked, but nobody's, from its start to its claim, or to its
	// stop when it was never claimed. It is reported apart and not billed;
	// zero for a session that never was in a pool.
	PoolStart, PoolEnd time.Time
}

// SessionReport is what an agent tells the control plane about a session's
// container: it runs, it is restarting, or it stopped.
type SessionReport struct {
	SessionID string
	NodeID    string
	// State is SessionRunning, SessionRestarting or SessionStopped.
	State SessionState
	// Reason says why a session stopped (StopExited, StopCrashLoop, StopFailed, StopLost);
	// empty when the stop was the one the control plane asked for.
	Reason   StopReason
	ExitCode int
	Restarts int
	// At is when it happened on the node (e.g. the container's start or exit time).
	At time.Time
	// StartedAt is when the session's process last started, if it ever did:
	// billing starts there if the control plane missed the running report.
	StartedAt time.Time
	Message   string
}

// Assignment is the desired state of a node's sessions as the control plane
// sends it to the node's agent. A Full assignment lists every session the node
// should know about; anything of the agent's own that it does not list is a
// leftover. Otherwise it carries changes only.
type Assignment struct {
	Full     bool
	Sessions []*Session
	// LogRequests ask the agent to send sessions' output; they ride along
	// with the desired state because agents dial the control plane, not the
	// other way round.
	LogRequests []LogRequest
	// Images lists every image the node should hold, on full assignments:
	// agents pull them ahead of the sessions that will need them.
	Images []WantedImage
}

// LogRequest asks a node's agent for the output of one of its sessions.
type LogRequest struct {
	// ID names the request; the agent's chunks carry it.
	ID        string
	SessionID string
	// Follow keeps the output coming until the session stops or the
	// reader goes away.
	Follow bool
	// ArtifactPath, when set, asks for the session's kept artifact at this
	// path, as a .tar.gz, instead of its output.
	ArtifactPath string
}

// LogChunk is a piece of a session's output on its way from the node. The
// last chunk of a request has EOF set, with Error when it ended in failure.
type LogChunk struct {
	RequestID string
	NodeID    string
	Data      []byte
	EOF       bool
	Error     string
	// Code classifies Error; empty means ENOTFOUND for an artifact and
	// EUNAVAILABLE for output.
	Code string
}

// Clone returns a deep copy of s, so that a copy handed to another goroutine
// never shares maps or slices with the original.
func (s *Session) Clone() *Session {
	c := *s
	c.Ports = append([]Port(nil), s.Ports...)
	c.Env = cloneMap(s.Env)
	c.Args = append([]string(nil), s.Args...)
	c.Labels = cloneMap(s.Labels)
	c.Players = append([]string(nil), s.Players...)
	c.ArtifactPaths = append([]string(nil), s.ArtifactPaths...)
	c.Security = s.Security.Clone()
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
