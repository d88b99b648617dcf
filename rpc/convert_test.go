package rpc

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/arena-hq/arena"
)

// fill sets every field reachable from v to a non-zero value unlike its
// neighbours', failing on a kind it cannot fill, so that a field added to a
// domain type cannot slip past the round trip unset.
func fill(t *testing.T, v reflect.Value, path string, n *int) {
	t.Helper()
	*n++
	if v.Type() == reflect.TypeFor[time.Time]() {
		// UTC and no monotonic reading: what a timestamp decodes to.
		v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(*n), int64(*n)).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64: // Int64 includes time.Duration
		v.SetInt(int64(*n))
	case reflect.Uint8: // the elements of a []byte
		v.SetUint(uint64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range s.Len() {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, fmt.Sprintf("%s.key%d", path, i), n)
			fill(t, e, fmt.Sprintf("%s.value%d", path, i), n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), path, n)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Fatalf("%s.%s: cannot set an unexported field", path, f.Name)
			}
			fill(t, v.Field(i), path+"."+f.Name, n)
		}
	default:
		t.Fatalf("%s: cannot fill a %s; teach fill and the conversions about it", path, v.Kind())
	}
}

func filled[T any](t *testing.T) T {
	t.Helper()
	var v T
	n := 0
	fill(t, reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name(), &n)
	return v
}

// wire sends m through its binary encoding, as a call would.
func wire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	node := filled[arena.Node](t)
	nodeWant := node
	nodeWant.CredentialHash = ""    // never travels
	nodeWant.JoinedAt = time.Time{} // the control plane's record, not the agent's

	local := time.FixedZone("UTC+2", 2*60*60)
	tests := []struct {
		name      string
		in, want  any
		roundTrip func(any) any
	}{
		{"session", filled[arena.Session](t), nil, func(v any) any {
			s := v.(arena.Session)
			return *sessionFromProto(wire(t, sessionToProto(&s)))
		}},
		{"zero session", arena.Session{}, nil, func(v any) any {
			s := v.(arena.Session)
			return *sessionFromProto(wire(t, sessionToProto(&s)))
		}},
		{"node without its credential hash", node, nodeWant, func(v any) any {
			return nodeFromProto(wire(t, nodeToProto(v.(arena.Node))))
		}},
		{"zero node", arena.Node{}, nil, func(v any) any {
			return nodeFromProto(wire(t, nodeToProto(v.(arena.Node))))
		}},
		{"report", filled[arena.SessionReport](t), nil, func(v any) any {
			return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
		}},
		{"zero report", arena.SessionReport{}, nil, func(v any) any {
			return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
		}},
		{"report with an unknown exit code", arena.SessionReport{ExitCode: -1, At: time.Unix(0, 1).UTC()}, nil, func(v any) any {
			return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
		}},
		{"assignment", filled[arena.Assignment](t), nil, func(v any) any {
			return assignmentFromProto(wire(t, assignmentToProto(v.(arena.Assignment))))
		}},
		{"empty full assignment", arena.Assignment{Full: true}, nil, func(v any) any {
			return assignmentFromProto(wire(t, assignmentToProto(v.(arena.Assignment))))
		}},
		{"assignment of log requests only", arena.Assignment{LogRequests: []arena.LogRequest{{ID: "r1", SessionID: "s1"}, {ID: "r2", SessionID: "s2", Follow: true}}}, nil, func(v any) any {
			return assignmentFromProto(wire(t, assignmentToProto(v.(arena.Assignment))))
		}},
		{"heartbeat", filled[arena.Heartbeat](t), nil, func(v any) any {
			return heartbeatFromProto(wire(t, heartbeatToProto(v.(arena.Heartbeat))))
		}},
		{"heartbeat without images", arena.Heartbeat{NodeID: "n1"}, nil, func(v any) any {
			return heartbeatFromProto(wire(t, heartbeatToProto(v.(arena.Heartbeat))))
		}},
		// An empty port report says nothing is held; no report says
		// nothing changed. The two must stay apart.
		{"heartbeat saying no port is held", arena.Heartbeat{NodeID: "n1", Ports: &arena.HostPorts{}}, nil, func(v any) any {
			return heartbeatFromProto(wire(t, heartbeatToProto(v.(arena.Heartbeat))))
		}},
		{"heartbeat with a conflict of a session without ports", arena.Heartbeat{NodeID: "n1", Ports: &arena.HostPorts{Held: []int{32768, 60299}, Conflicts: []arena.PortConflict{{SessionID: "s1"}}}}, nil, func(v any) any {
			return heartbeatFromProto(wire(t, heartbeatToProto(v.(arena.Heartbeat))))
		}},
		// Free text from registries and the engine may hold any bytes; the
		// message must still encode.
		{"heartbeat with an image error that is not UTF-8", arena.Heartbeat{NodeID: "n1", Images: []arena.NodeImage{{Ref: "game:1", State: arena.ImageFailed, Error: "denied \xff\xfe here"}}},
			arena.Heartbeat{NodeID: "n1", Images: []arena.NodeImage{{Ref: "game:1", State: arena.ImageFailed, Error: "denied \uFFFD here"}}}, func(v any) any {
				return heartbeatFromProto(wire(t, heartbeatToProto(v.(arena.Heartbeat))))
			}},
		{"report with a message that is not UTF-8", arena.SessionReport{SessionID: "s1", Message: "cannot start: \xc3"},
			arena.SessionReport{SessionID: "s1", Message: "cannot start: \uFFFD"}, func(v any) any {
				return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
			}},
		{"log chunk with an error that is not UTF-8", arena.LogChunk{RequestID: "r1", EOF: true, Error: "\xe2\x82 broken"},
			arena.LogChunk{RequestID: "r1", EOF: true, Error: "\uFFFD broken"}, func(v any) any {
				return logChunkFromProto(wire(t, logChunkToProto(v.(arena.LogChunk))))
			}},
		{"log chunk", filled[arena.LogChunk](t), nil, func(v any) any {
			return logChunkFromProto(wire(t, logChunkToProto(v.(arena.LogChunk))))
		}},
		{"zero log chunk", arena.LogChunk{}, nil, func(v any) any {
			return logChunkFromProto(wire(t, logChunkToProto(v.(arena.LogChunk))))
		}},
		{"last log chunk with an error and no data", arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte{}, EOF: true, Error: "no such container", Code: arena.ENOTFOUND},
			arena.LogChunk{RequestID: "r1", NodeID: "n1", EOF: true, Error: "no such container", Code: arena.ENOTFOUND}, func(v any) any {
				return logChunkFromProto(wire(t, logChunkToProto(v.(arena.LogChunk))))
			}},
		{"log chunk of binary output", arena.LogChunk{RequestID: "r1", Data: []byte{0, 0xff, '\n', 0x80, 0}}, nil, func(v any) any {
			return logChunkFromProto(wire(t, logChunkToProto(v.(arena.LogChunk))))
		}},
		{"times before 1970 and at year 1", arena.SessionReport{At: time.Time{}.Add(time.Nanosecond), StartedAt: time.Unix(-1, 5).UTC()}, nil, func(v any) any {
			return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
		}},
		{"a local time arrives as the same instant in UTC", arena.SessionReport{At: time.Date(2026, 5, 1, 12, 0, 0, 7, local)},
			arena.SessionReport{At: time.Date(2026, 5, 1, 10, 0, 0, 7, time.UTC)}, func(v any) any {
				return reportFromProto(wire(t, reportToProto(v.(arena.SessionReport))))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if got := tt.roundTrip(tt.in); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the value\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// TestSessionLimitsOnTheWire checks how limits travel: unset when zero, as
// a control plane from before limits sends every session, and set when the
// session has them, apart from the reservation.
func TestSessionLimitsOnTheWire(t *testing.T) {
	reserved := arena.Resources{MilliCPU: 500, MemoryMB: 256}
	tests := []struct {
		name   string
		limits arena.Resources
		unset  bool
	}{
		{"no limits", arena.Resources{}, true},
		{"limits above the reservation", arena.Resources{MilliCPU: 2000, MemoryMB: 1024}, false},
		{"limits equal to the reservation", reserved, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wire(t, sessionToProto(&arena.Session{ID: "s1", Resources: reserved, Limits: tt.limits}))
			if unset := p.GetLimits() == nil; unset != tt.unset {
				t.Fatalf("limits unset on the wire: %v, want %v", unset, tt.unset)
			}
			if got := sessionFromProto(p); got.Limits != tt.limits || got.Resources != reserved {
				t.Fatalf("arrived with limits %+v and resources %+v, want %+v and %+v", got.Limits, got.Resources, tt.limits, reserved)
			}
		})
	}
}

// TestSessionSecurityOnTheWire checks that a session's security settings
// travel in fields 35 to 37, which an agent or control plane from before
// them skips, and that a session without them sends none, so that either
// side reads the other's as the image's user on a writable root.
func TestSessionSecurityOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		sec    arena.ContainerSecurity
		fields []protowire.Number
	}{
		{"the image as it is", arena.ContainerSecurity{}, nil},
		{"a user", arena.ContainerSecurity{User: "65534:65534"}, []protowire.Number{35}},
		{"everything", arena.ContainerSecurity{User: "games", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/run"}}, []protowire.Number{35, 36, 37, 37}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(sessionToProto(&arena.Session{ID: "s1", Security: tt.sec}))
			if err != nil {
				t.Fatal(err)
			}
			var got []protowire.Number
			for len(b) > 0 {
				num, typ, n := protowire.ConsumeTag(b)
				if n < 0 {
					t.Fatal(protowire.ParseError(n))
				}
				m := protowire.ConsumeFieldValue(num, typ, b[n:])
				if m < 0 {
					t.Fatal(protowire.ParseError(m))
				}
				if num >= 35 && num <= 37 {
					got = append(got, num)
				}
				b = b[n+m:]
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("security fields on the wire %v, want %v", got, tt.fields)
			}
			p := wire(t, sessionToProto(&arena.Session{ID: "s1", Security: tt.sec}))
			if back := sessionFromProto(p).Security; !reflect.DeepEqual(back, tt.sec) {
				t.Fatalf("arrived as %+v, want %+v", back, tt.sec)
			}
		})
	}
}

func TestCredentialHashNeverTravels(t *testing.T) {
	n := arena.Node{ID: "n1", CredentialHash: "secret-hash-0123456789"}
	b, err := proto.Marshal(nodeToProto(n))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(n.CredentialHash)) {
		t.Fatal("the node's credential hash is on the wire")
	}
}

func TestMonotonicTimeRoundTrip(t *testing.T) {
	now := time.Now() // local, with a monotonic reading
	got := reportFromProto(wire(t, reportToProto(arena.SessionReport{At: now}))).At
	if !got.Equal(now) {
		t.Fatalf("got %v, want %v", got, now)
	}
}
