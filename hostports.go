package arena

// MaxHeldPorts bounds the ports a heartbeat lists as held: about 3 KB on the
// wire, and a lookup in a short sorted list for the scheduler. A node with
// more ports of its range in other hands reports the lowest ones; a session
// given one of the others finds out when its start fails, and moves.
const MaxHeldPorts = 1024

// HostPorts is what a node's agent knows of the host ports of the node's
// range.
type HostPorts struct {
	// Held lists, ascending and at most MaxHeldPorts of them, the ports of
	// the node's range that a socket on the host holds, outside the node's
	// session containers: outgoing connections from the kernel's ephemeral
	// range, other services, containers Arena did not start. Placement
	// hands none of them out.
	Held []int
	// Conflicts lists the sessions whose container could not start because
	// a host port it was given is taken, for the control plane to move them
	// to other ports. The agent lists a session until it is given new
	// ports or stopped.
	Conflicts []PortConflict
}

// PortConflict is a session whose container could not start on the host
// ports it was given.
type PortConflict struct {
	SessionID string
	// Ports are the host ports the failed start was given, in the session's
	// order: the control plane moves the session only while it still has
	// them, so that a conflict reported again after the move moves nothing.
	Ports []int
}

// HostPortsOf returns the host ports of ports, in order.
func HostPortsOf(ports []Port) []int {
	out := make([]int, len(ports))
	for i, p := range ports {
		out[i] = p.Host
	}
	return out
}
