// Package scheduler decides where sessions run. It keeps every node's free
// CPU, memory and host ports in memory and makes each placement one atomic
// step under a lock, so that concurrent requests can never double-book a port
// or exceed a node's capacity. The store remains the record: after a restart
// the control plane rebuilds the scheduler from the sessions it holds.
//
// # Areas
//
// Nodes sit in regions, regions hold locations. A request names an area: a
// location, or a region to accept any of its locations. A node is in two
// areas, its location and its region, and the scheduler indexes it under
// both, so that a placement looks only at the nodes of the area it names. A
// name that is the location of some nodes and the region of others covers
// them all; an empty name covers none.
//
// # Placement order
//
// Place picks a node in six steps:
//
//  1. Eligible nodes: those of the area that are healthy (as UpsertNode or
//     SetHealthy last marked them), not draining, with the free CPU,
//     memory and number of host ports the session needs, and able to start
//     it in time (see Start queues below).
//  2. Class: bare metal before cloud. Cloud is used only when no metal node
//     of the area is eligible ("cloud burst"), because metal is paid for
//     whether it is used or not.
//  3. Queue: within the class, the nodes that would start the session
//     soonest, counted in whole QueueSteps (5 s) of expected wait: nodes
//     within the same step are alike, and one a step or more behind is
//     passed over while another of the class is not. A queue never makes
//     a cloud node win over a metal one that can start the session in time.
//  4. Image: within the class and step, nodes that hold the session's image (as
//     SetImages last said) before those that would have to pull it first.
//     A pull delays the start by seconds to minutes; an image never makes a
//     cloud node win over a metal one that has room.
//  5. Provider: within the class (step and image), the provider holding the
//     fewest of the area's sessions (of both classes), ties by provider
//     name; when none of its nodes is eligible, the next one. The tally is the area's own: a
//     location request evens out providers within the location, a region
//     request across the region. Every region runs on several providers so
//     that one provider's outage takes only its share of the sessions.
//  6. Node: within that provider, by Policy on the node's load (the larger of
//     its CPU and memory shares in use). Pack takes the busiest node, Spread
//     the idlest; ties by node id.
//
// Provider spreading comes before the policy: with Pack the busiest node of
// the least used provider wins, so sessions alternate between providers while
// each provider's nodes still fill one after another. The image comes before
// both because pre-pulling makes every node hold every tag soon after it is
// configured: the preference matters while a new tag rolls out, and then
// sessions are better started at once than spread evenly. The queue comes
// before the image because a node whose queue is a step longer does not
// start the session at once either, and in a burst it is the queue that
// decides how soon a session runs.
//
// # Start queues
//
// A node's agent starts a few containers at a time, as many as its engine
// sustains, and each start has a deadline, its wait for a turn included
// (agent.Config.StartTimeout). The agent says in its heartbeats how many
// starts a second it made while it was starting any, and its deadline
// (SetStartPace); the scheduler counts at once, itself, the sessions it
// placed on each node that the node has not started yet (StartDone ends
// that), since heartbeats come every few seconds and a burst does not wait
// for them. A new session is expected to wait (pending+1)/rate on the node:
// every pending session, then itself. A node that paces its starts but has
// made none yet is taken to make DefaultStartRate a second for each start
// it runs at once; its agent tells its rate as soon as its first start ends.
//
// A node takes a new session only while that wait is within half its
// start deadline: the rate is what the node did at the load it had, and a
// burst slows each start further. When every node of the area with room is
// past that, Place refuses with EUNAVAILABLE and a RetryAfter, the time
// until the first of them is back within it, rather than accept a session
// that would fail to start; the Session API answers 420 with Retry-After.
// AvailableLocations leaves such nodes out too. A node that does not pace
// its starts (an agent that does not say) is never behind.
//
// # Host ports
//
// Each node's ports are a bitmap, handed out from a cursor that moves on
// past each allocation. Besides its sessions' ports, a node's agent reports
// the ports of its range that something else on the machine holds
// (SetHeldPorts): an outgoing connection given a port of the kernel's
// ephemeral range, another service. Those are set in the bitmap too, so that
// placement skips them at no cost and the node's free ports leave them out;
// a port a session holds as well counts once, and stays held after the
// session until a report leaves it out. MovePorts gives a session whose
// container found a port taken regardless new ones, never those it had.
//
// # Quotas
//
// Before it looks at nodes, Place checks the request's organisation against
// its quota (SetQuota): a session that would pass a bound is refused with
// EQUOTA, whatever capacity there is. The check and the reservation happen
// under the one lock, so that concurrent requests cannot overshoot a quota
// any more than a node. Restore counts a session against its quota without
// ever refusing it: the session exists. Each organisation's tally is kept as
// sessions are placed, restored and released, and costs a map look-up per
// placement.
//
// # Cost
//
// Place never sorts nodes. Within an area nodes are grouped by class and
// provider, each group ordered by id; providers (a handful) are tried in
// order of their tallies, and each tried provider's nodes are scanned once,
// keeping the first best so that ties go by id without comparing ids. The
// tallies are kept as sessions are placed, restored and released.
// AvailableLocations scans each location's nodes once, kept in address order
// so that it needs no sorting either.
//
// On a 2-core machine, with 100,000 sessions on 10,000 nodes in one region
// of 20 locations and 4 providers (BenchmarkPlace), placing in the region
// takes about 10 µs and in a location about 1 µs; AvailableLocations takes
// about 0.3 ms. A node takes about 4 KB of memory, most of it the bitmap of
// its host ports (one bit a port), and a session about 140 bytes.
package scheduler
