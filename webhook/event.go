package webhook

import (
	"context"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/arena-hq/arena"
	"github.com/google/uuid"
)

// Event types.
const (
	EventSessionStarted     = "session.started"
	EventSessionRunning     = "session.running"
	EventSessionStopped     = "session.stopped"
	EventSessionUnreachable = "session.unreachable"
	// EventNodeAdded and EventNodeRetired tell the installation's operators
	// of the cloud capacity Arena adds and retires itself: they go to the
	// organisation the scaler is configured to tell, and to no other.
	EventNodeAdded   = "node.added"
	EventNodeRetired = "node.retired"
)

// EventTypes lists every event type, for validation and documentation.
var EventTypes = []string{EventSessionStarted, EventSessionRunning, EventSessionStopped, EventSessionUnreachable,
	EventNodeAdded, EventNodeRetired}

// ValidEventType reports whether t is an event type Arena sends.
func ValidEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Endpoint is a URL an organisation registered to receive its events.
type Endpoint struct {
	// ID identifies the endpoint; it must be unique, since per-endpoint
	// queue limits are kept by it.
	ID    string
	OrgID string
	URL   string
	// Secret keys the endpoint's signatures (see NewSecret). It is shown to
	// the organisation once and must be stored so that it can be used again:
	// unlike a token, it cannot be kept as a hash.
	Secret string
	// Events lists the event types the endpoint receives; empty for all.
	Events    []string
	CreatedAt time.Time
}

// Wants reports whether the endpoint receives events of type t.
func (e Endpoint) Wants(t string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, t)
}

// LogValue keeps the secret, and any password in the URL, out of logs.
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("org", e.OrgID), slog.String("url", redact(e.URL)))
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// EndpointSource tells which endpoints an organisation registered. The
// dispatcher asks it once per event, so it should be cheap (cached); an error
// makes the dispatcher ask again later, with the same backoff as deliveries.
type EndpointSource interface {
	Endpoints(ctx context.Context, orgID string) ([]Endpoint, error)
}

// EndpointFunc adapts a function to an EndpointSource.
type EndpointFunc func(ctx context.Context, orgID string) ([]Endpoint, error)

// Endpoints calls f.
func (f EndpointFunc) Endpoints(ctx context.Context, orgID string) ([]Endpoint, error) {
	return f(ctx, orgID)
}

// Event is one change of a session's state, or of the cloud nodes, as
// sent to endpoints: Session is set on session events, Node on node events.
type Event struct {
	// ID is unique per event and stays the same across attempts, for receivers to de-duplicate.
	ID   string `json:"id"`
	Type string `json:"type"`
	// OrgID selects the endpoints; it is not sent, since a receiver knows its organisation.
	OrgID   string    `json:"-"`
	At      time.Time `json:"at"`
	Session *Session  `json:"session,omitempty"`
	Node    *Node     `json:"node,omitempty"`
}

// Node is what a node event tells of the cloud machine whose node joined
// or was retired.
type Node struct {
	ID           string          `json:"id"`
	Region       string          `json:"region"`
	Provider     string          `json:"provider"`
	ProviderID   string          `json:"providerId"`
	InstanceType string          `json:"instanceType"`
	CostPerHour  float64         `json:"costPerHour"`
	Capacity     arena.Resources `json:"capacity"`
	// Reason is why the scaler added or retired it.
	Reason string `json:"reason"`
}

// NodeEvent returns the event of type typ (EventNodeAdded or
// EventNodeRetired) of machine m, for the endpoints of orgID.
func NodeEvent(typ string, m *arena.CloudMachine, orgID string, at time.Time) Event {
	return Event{ID: uuid.NewString(), Type: typ, OrgID: orgID, At: at.UTC(), Node: &Node{
		ID: m.NodeID, Region: m.Region, Provider: m.Provider, ProviderID: m.ProviderID, InstanceType: m.InstanceType,
		CostPerHour: m.CostPerHour, Capacity: m.Capacity, Reason: m.Reason,
	}}
}

// Session is what an event tells of its session: the fields of GET
// /session/{id} a matchmaker acts on, under the Session API's names.
type Session struct {
	ID string `json:"id"`
	// Status is the Session API's status: created, running, restarting,
	// shuttingdown, server_unreachable, exited or dead.
	Status string `json:"status"`
	// Image is the application's name, Tag its version, as in the Session API.
	Image    string            `json:"image"`
	Tag      string            `json:"tag"`
	Location string            `json:"location"`
	Host     string            `json:"host"`
	Ports    []arena.Port      `json:"ports"`
	Labels   map[string]string `json:"labels,omitempty"`
	// StopReason and ExitCode are set once the session stopped; ExitCode
	// only when it is known.
	StopReason string `json:"stopReason,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	// StopMessage says why, when the node stopped it by itself (a start
	// that failed, a crash loop, a container lost).
	StopMessage string `json:"stopMessage,omitempty"`
}

// SessionEvent returns the event that tells of s entering its current state
// at time at, with a new id, and false for states that have no event
// (restarting, stopping): the control plane can call it after every
// transition and publish when it answers true.
func SessionEvent(s *arena.Session, at time.Time) (Event, bool) {
	var typ string
	switch s.State {
	case arena.SessionStarted:
		typ = EventSessionStarted
	case arena.SessionRunning:
		typ = EventSessionRunning
	case arena.SessionStopped:
		typ = EventSessionStopped
	case arena.SessionUnreachable:
		typ = EventSessionUnreachable
	default:
		return Event{}, false
	}
	ports := slices.Clone(s.Ports)
	if ports == nil {
		ports = []arena.Port{} // "ports": [] rather than null, as the Session API answers
	}
	info := Session{
		ID:       s.PublicID(),
		Status:   s.Status(),
		Image:    s.Application,
		Tag:      s.Tag,
		Location: s.Location,
		Host:     s.Host,
		Ports:    ports,
		Labels:   maps.Clone(s.Labels),
	}
	if s.State == arena.SessionStopped {
		info.StopReason = string(s.StopReason)
		info.StopMessage = s.StopMessage
		if s.ExitCode >= 0 {
			code := s.ExitCode
			info.ExitCode = &code
		}
	}
	return Event{ID: uuid.NewString(), Type: typ, OrgID: s.OrgID, At: at.UTC(), Session: &info}, true
}
