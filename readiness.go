package arena

import (
	"fmt"
	"slices"
	"time"
)

// ReadinessMode is when a session's game server counts as ready for
// players, and so when the session is running and billed.
type ReadinessMode string

// Readiness modes. The zero mode is ReadyOnPorts.
const (
	// ReadyOnPorts is once the game server serves on every port of its
	// application: a TCP port listening, a UDP port bound, as the
	// container's own network namespace shows. The game server needs no
	// SDK and sees no probe.
	ReadyOnPorts ReadinessMode = "ports"
	// ReadyOnProcess is once the container's process has started, for a
	// game server whose ports are not its own to open.
	ReadyOnProcess ReadinessMode = "process"
)

// Bounds of Readiness.Timeout.
const (
	DefaultReadinessTimeout = time.Minute
	MaxReadinessTimeout     = 30 * time.Minute
)

// Readiness is how a session's readiness is told, from its application.
type Readiness struct {
	Mode ReadinessMode
	// Timeout bounds the wait for readiness from the container's start;
	// zero takes DefaultReadinessTimeout.
	Timeout time.Duration
	// RunOnTimeout marks a session running, and billed, when the timeout
	// passes before it is ready; otherwise the session fails then.
	RunOnTimeout bool
}

// Effective returns r with its defaults in place.
func (r Readiness) Effective() Readiness {
	if r.Mode == "" {
		r.Mode = ReadyOnPorts
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultReadinessTimeout
	}
	return r
}

func (r Readiness) violations() []Violation {
	var v []Violation
	if r.Mode != "" && r.Mode != ReadyOnPorts && r.Mode != ReadyOnProcess {
		v = append(v, Violation{Field: "readiness.mode", Description: "must be ports or process"})
	}
	if r.Timeout != 0 && (r.Timeout < time.Second || r.Timeout > MaxReadinessTimeout) {
		v = append(v, Violation{Field: "readiness.timeoutSeconds", Description: fmt.Sprintf("must be between 1 and %d", int(MaxReadinessTimeout.Seconds()))})
	}
	return v
}

// Sockets are the ports a container's processes serve on, in its network
// namespace: TCP ports listening, UDP ports bound.
type Sockets struct {
	TCP, UDP []int
}

// Missing returns the ports of a session that the sockets do not serve on
// yet: under bridge networking the container's own, under host networking
// the host's, which the game server is told to bind.
func (s Sockets) Missing(network NetworkMode, ports []Port) []Port {
	var out []Port
	for _, p := range ports {
		port := p.Container
		if network == NetworkHost {
			port = p.Host
		}
		serving := s.TCP
		if p.Protocol == UDP {
			serving = s.UDP
		}
		if !slices.Contains(serving, port) {
			out = append(out, p)
		}
	}
	return out
}
