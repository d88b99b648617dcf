package rpc

import (
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/rpc/agentv1"
)

// The conversions below are total in both directions: every field of the
// domain types has a wire counterpart (except Node.CredentialHash, which must
// never travel), and TestRoundTrip fails when a domain field is added without
// one. Empty maps and slices arrive as nil, as protobuf cannot tell them apart.

func nodeToProto(n arena.Node) *agentv1.Node {
	return &agentv1.Node{
		Id:       n.ID,
		Region:   n.Region,
		Location: n.Location,
		Provider: n.Provider,
		Class:    string(n.Class),
		PublicIp: n.PublicIP,
		Capacity: resourcesToProto(n.Capacity),
		PortMin:  int32(n.PortMin),
		PortMax:  int32(n.PortMax),
		Draining: n.Draining,
	}
}

func nodeFromProto(n *agentv1.Node) arena.Node {
	return arena.Node{
		ID:       n.GetId(),
		Region:   n.GetRegion(),
		Location: n.GetLocation(),
		Provider: n.GetProvider(),
		Class:    arena.NodeClass(n.GetClass()),
		PublicIP: n.GetPublicIp(),
		Capacity: resourcesFromProto(n.GetCapacity()),
		PortMin:  int(n.GetPortMin()),
		PortMax:  int(n.GetPortMax()),
		Draining: n.GetDraining(),
	}
}

func resourcesToProto(r arena.Resources) *agentv1.Resources {
	return &agentv1.Resources{MilliCpu: r.MilliCPU, MemoryMb: r.MemoryMB}
}

func resourcesFromProto(r *agentv1.Resources) arena.Resources {
	return arena.Resources{MilliCPU: r.GetMilliCpu(), MemoryMB: r.GetMemoryMb()}
}

func sessionToProto(s *arena.Session) *agentv1.Session {
	p := &agentv1.Session{
		Id:                s.ID,
		OrgId:             s.OrgID,
		Application:       s.Application,
		Tag:               s.Tag,
		Image:             s.Image,
		Region:            s.Region,
		Location:          s.Location,
		NodeId:            s.NodeID,
		Host:              s.Host,
		Network:           string(s.Network),
		Env:               nonEmptyMap(s.Env),
		Args:              nonEmpty(s.Args),
		Labels:            nonEmptyMap(s.Labels),
		Ttl:               durationToProto(s.TTL),
		Restart:           s.Restart,
		Resources:         resourcesToProto(s.Resources),
		StopGrace:         durationToProto(s.StopGrace),
		Players:           nonEmpty(s.Players),
		ArtifactPaths:     nonEmpty(s.ArtifactPaths),
		Name:              s.Name,
		RequestHash:       s.RequestHash,
		State:             string(s.State),
		StopReason:        string(s.StopReason),
		StopMessage:       validText(s.StopMessage),
		ExitCode:          int32(s.ExitCode),
		Restarts:          int32(s.Restarts),
		CreatedAt:         timeToProto(s.CreatedAt),
		RunningAt:         timeToProto(s.RunningAt),
		StoppingAt:        timeToProto(s.StoppingAt),
		StoppedAt:         timeToProto(s.StoppedAt),
		UnreachableSince:  timeToProto(s.UnreachableSince),
		UpdatedAt:         timeToProto(s.UpdatedAt),
		ExternalId:        s.ExternalID,
		User:              s.Security.User,
		ReadOnlyRootFs:    s.Security.ReadOnlyRootFS,
		Tmpfs:             nonEmpty(s.Security.Tmpfs),
		ReadyMode:         string(s.Readiness.Mode),
		RunOnReadyTimeout: s.Readiness.RunOnTimeout,
		Pool:              s.Pool,
		Launcher:          s.Launcher,
		ClaimedAt:         timeToProto(s.ClaimedAt),
	}
	if s.Readiness.Timeout > 0 {
		p.ReadyTimeout = durationToProto(s.Readiness.Timeout)
	}
	// Zero limits stay off the wire, as an older control plane sends them:
	// either way the agent caps the container at the reservation.
	if s.Limits != (arena.Resources{}) {
		p.Limits = resourcesToProto(s.Limits)
	}
	for _, port := range s.Ports {
		p.Ports = append(p.Ports, &agentv1.Port{Protocol: string(port.Protocol), Container: int32(port.Container), Host: int32(port.Host)})
	}
	return p
}

func sessionFromProto(p *agentv1.Session) *arena.Session {
	s := &arena.Session{
		ID:               p.GetId(),
		OrgID:            p.GetOrgId(),
		Application:      p.GetApplication(),
		Tag:              p.GetTag(),
		Image:            p.GetImage(),
		Region:           p.GetRegion(),
		Location:         p.GetLocation(),
		NodeID:           p.GetNodeId(),
		Host:             p.GetHost(),
		Network:          arena.NetworkMode(p.GetNetwork()),
		Env:              nonEmptyMap(p.GetEnv()),
		Args:             nonEmpty(p.GetArgs()),
		Labels:           nonEmptyMap(p.GetLabels()),
		TTL:              durationFromProto(p.GetTtl()),
		Restart:          p.GetRestart(),
		Resources:        resourcesFromProto(p.GetResources()),
		StopGrace:        durationFromProto(p.GetStopGrace()),
		Players:          nonEmpty(p.GetPlayers()),
		ArtifactPaths:    nonEmpty(p.GetArtifactPaths()),
		Name:             p.GetName(),
		RequestHash:      p.GetRequestHash(),
		State:            arena.SessionState(p.GetState()),
		StopReason:       arena.StopReason(p.GetStopReason()),
		StopMessage:      p.GetStopMessage(),
		ExitCode:         int(p.GetExitCode()),
		Restarts:         int(p.GetRestarts()),
		CreatedAt:        timeFromProto(p.GetCreatedAt()),
		RunningAt:        timeFromProto(p.GetRunningAt()),
		StoppingAt:       timeFromProto(p.GetStoppingAt()),
		StoppedAt:        timeFromProto(p.GetStoppedAt()),
		UnreachableSince: timeFromProto(p.GetUnreachableSince()),
		UpdatedAt:        timeFromProto(p.GetUpdatedAt()),
		ExternalID:       p.GetExternalId(),
		Limits:           resourcesFromProto(p.GetLimits()),
		Security: arena.ContainerSecurity{
			User: p.GetUser(), ReadOnlyRootFS: p.GetReadOnlyRootFs(), Tmpfs: nonEmpty(p.GetTmpfs()),
		},
		Readiness: arena.Readiness{
			Mode: arena.ReadinessMode(p.GetReadyMode()), Timeout: durationFromProto(p.GetReadyTimeout()), RunOnTimeout: p.GetRunOnReadyTimeout(),
		},
		Pool:      p.GetPool(),
		Launcher:  p.GetLauncher(),
		ClaimedAt: timeFromProto(p.GetClaimedAt()),
	}
	for _, port := range p.GetPorts() {
		s.Ports = append(s.Ports, arena.Port{Protocol: arena.Protocol(port.GetProtocol()), Container: int(port.GetContainer()), Host: int(port.GetHost())})
	}
	return s
}

func reportToProto(r arena.SessionReport) *agentv1.SessionReport {
	return &agentv1.SessionReport{
		SessionId: r.SessionID,
		NodeId:    r.NodeID,
		State:     string(r.State),
		Reason:    string(r.Reason),
		ExitCode:  int32(r.ExitCode),
		Restarts:  int32(r.Restarts),
		At:        timeToProto(r.At),
		StartedAt: timeToProto(r.StartedAt),
		Message:   validText(r.Message),
	}
}

func reportFromProto(p *agentv1.SessionReport) arena.SessionReport {
	return arena.SessionReport{
		SessionID: p.GetSessionId(),
		NodeID:    p.GetNodeId(),
		State:     arena.SessionState(p.GetState()),
		Reason:    arena.StopReason(p.GetReason()),
		ExitCode:  int(p.GetExitCode()),
		Restarts:  int(p.GetRestarts()),
		At:        timeFromProto(p.GetAt()),
		StartedAt: timeFromProto(p.GetStartedAt()),
		Message:   p.GetMessage(),
	}
}

func assignmentToProto(a arena.Assignment) *agentv1.Assignment {
	p := &agentv1.Assignment{Full: a.Full}
	for _, s := range a.Sessions {
		if s != nil {
			p.Sessions = append(p.Sessions, sessionToProto(s))
		}
	}
	for _, r := range a.LogRequests {
		p.LogRequests = append(p.LogRequests, &agentv1.LogRequest{Id: r.ID, SessionId: r.SessionID, Follow: r.Follow, ArtifactPath: r.ArtifactPath})
	}
	for _, w := range a.Images {
		pw := &agentv1.WantedImage{Ref: w.Ref, OrgId: w.OrgID}
		if w.Auth != nil {
			pw.Auth = &agentv1.RegistryAuth{Username: w.Auth.Username, Password: w.Auth.Password}
		}
		p.Images = append(p.Images, pw)
	}
	return p
}

func assignmentFromProto(p *agentv1.Assignment) arena.Assignment {
	a := arena.Assignment{Full: p.GetFull()}
	for _, s := range p.GetSessions() {
		a.Sessions = append(a.Sessions, sessionFromProto(s))
	}
	for _, r := range p.GetLogRequests() {
		a.LogRequests = append(a.LogRequests, arena.LogRequest{ID: r.GetId(), SessionID: r.GetSessionId(), Follow: r.GetFollow(), ArtifactPath: r.GetArtifactPath()})
	}
	for _, w := range p.GetImages() {
		aw := arena.WantedImage{Ref: w.GetRef(), OrgID: w.GetOrgId()}
		if pa := w.GetAuth(); pa != nil {
			aw.Auth = &arena.RegistryAuth{Username: pa.GetUsername(), Password: pa.GetPassword()}
		}
		a.Images = append(a.Images, aw)
	}
	return a
}

func heartbeatToProto(hb arena.Heartbeat) *agentv1.HeartbeatRequest {
	p := &agentv1.HeartbeatRequest{NodeId: hb.NodeID}
	for _, im := range hb.Images {
		p.Images = append(p.Images, &agentv1.NodeImage{Ref: im.Ref, State: string(im.State), Error: validText(im.Error), Refused: im.Refused})
	}
	if hp := hb.Ports; hp != nil {
		p.Ports = &agentv1.HostPorts{Held: int32s(hp.Held)}
		for _, c := range hp.Conflicts {
			p.Ports.Conflicts = append(p.Ports.Conflicts, &agentv1.PortConflict{SessionId: c.SessionID, Ports: int32s(c.Ports)})
		}
	}
	if q := hb.Starts; q != nil {
		p.Starts = &agentv1.StartQueue{
			Queued: clampInt32(q.Queued), InFlight: clampInt32(q.InFlight), Concurrency: clampInt32(q.Concurrency),
			Timeout: durationToProto(q.Timeout), Rate: q.Rate, Samples: clampInt32(q.Samples),
			LatencyP50: durationToProto(q.LatencyP50), LatencyP99: durationToProto(q.LatencyP99),
			WaitP50: durationToProto(q.WaitP50), WaitP99: durationToProto(q.WaitP99),
		}
	}
	return p
}

// clampInt32 is n for the wire, within int32.
func clampInt32(n int) int32 {
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}

func heartbeatFromProto(p *agentv1.HeartbeatRequest) arena.Heartbeat {
	hb := arena.Heartbeat{NodeID: p.GetNodeId()}
	for _, im := range p.GetImages() {
		hb.Images = append(hb.Images, arena.NodeImage{Ref: im.GetRef(), State: arena.ImageState(im.GetState()), Error: im.GetError(), Refused: nonEmpty(im.GetRefused())})
	}
	// Set or not, as sent: unset means the node's ports are as they were.
	if hp := p.GetPorts(); hp != nil {
		hb.Ports = &arena.HostPorts{Held: ints(hp.GetHeld())}
		for _, c := range hp.GetConflicts() {
			hb.Ports.Conflicts = append(hb.Ports.Conflicts, arena.PortConflict{SessionID: c.GetSessionId(), Ports: ints(c.GetPorts())})
		}
	}
	// Taken as sent: the control plane bounds what it believes of it.
	if q := p.GetStarts(); q != nil {
		hb.Starts = &arena.StartQueue{
			Queued: int(q.GetQueued()), InFlight: int(q.GetInFlight()), Concurrency: int(q.GetConcurrency()),
			Timeout: durationFromProto(q.GetTimeout()), Rate: q.GetRate(), Samples: int(q.GetSamples()),
			LatencyP50: durationFromProto(q.GetLatencyP50()), LatencyP99: durationFromProto(q.GetLatencyP99()),
			WaitP50: durationFromProto(q.GetWaitP50()), WaitP99: durationFromProto(q.GetWaitP99()),
		}
	}
	return hb
}

// int32s converts ports for the wire; none is nil.
func int32s(ports []int) []int32 {
	if len(ports) == 0 {
		return nil
	}
	out := make([]int32, len(ports))
	for i, p := range ports {
		out[i] = int32(p)
	}
	return out
}

// ints converts ports from the wire; none is nil.
func ints(ports []int32) []int {
	if len(ports) == 0 {
		return nil
	}
	out := make([]int, len(ports))
	for i, p := range ports {
		out[i] = int(p)
	}
	return out
}

func logChunkToProto(c arena.LogChunk) *agentv1.LogChunk {
	return &agentv1.LogChunk{
		RequestId: c.RequestID,
		NodeId:    c.NodeID,
		Data:      nonEmptyBytes(c.Data),
		Eof:       c.EOF,
		Error:     validText(c.Error),
		Code:      c.Code,
	}
}

func logChunkFromProto(p *agentv1.LogChunk) arena.LogChunk {
	return arena.LogChunk{
		RequestID: p.GetRequestId(),
		NodeID:    p.GetNodeId(),
		Data:      nonEmptyBytes(p.GetData()),
		EOF:       p.GetEof(),
		Error:     p.GetError(),
		Code:      p.GetCode(),
	}
}

// timeToProto leaves the zero time ("never") unset rather than encoding
// year 1, so that it stays zero on the other side whatever its clock.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func durationToProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func durationFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// nonEmpty, nonEmptyBytes and nonEmptyMap make empty and nil alike, as they are on the wire.
func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nonEmptyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nonEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// validText makes free text, such as an error a registry or the engine
// wrote, valid UTF-8: protobuf refuses to encode a message holding a string
// that is not, and one bad byte must not cost a node its heartbeats.
func validText(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
