package storedoc

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

// fullSession and fullApplication set every field, columns included, to a
// value of its own.
func fullSession() *arena.Session {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	return &arena.Session{
		ID:          "org1/s1",
		Name:        "s1",
		OrgID:       "org1",
		Application: "app",
		Tag:         "v2",
		Image:       "registry.example.com/game:v2",
		Region:      "eu",
		Location:    "ams1",
		NodeID:      "node1",
		Host:        "203.0.113.7",
		Network:     arena.NetworkBridge,
		Ports: []arena.Port{
			{Protocol: arena.UDP, Container: 7777, Host: 30001},
			{Protocol: arena.TCP, Container: 8080, Host: 30002},
		},
		Env:              map[string]string{"B": "2", "A": "1"},
		Args:             []string{"-port", "7777"},
		Labels:           map[string]string{"mode": "ranked", "map": "dust"},
		TTL:              90 * time.Minute,
		Restart:          true,
		Resources:        arena.Resources{MilliCPU: 1500, MemoryMB: 2048},
		StopGrace:        30 * time.Second,
		Players:          []string{"p1", "p2"},
		ArtifactPaths:    []string{"/logs", "/replays/last.dem"},
		RequestHash:      "sha256:abc",
		State:            arena.SessionStopped,
		StopReason:       arena.StopExited,
		ExitCode:         3,
		Restarts:         2,
		CreatedAt:        at,
		RunningAt:        at.Add(1 * time.Second),
		StoppingAt:       at.Add(2 * time.Second),
		StoppedAt:        at.Add(3 * time.Second),
		UnreachableSince: at.Add(4 * time.Second),
		UpdatedAt:        at.Add(5 * time.Second),
	}
}

func fullApplication() *arena.Application {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	return &arena.Application{
		OrgID:      "org1",
		Name:       "app",
		Repository: "registry.example.com/game",
		Tags:       []arena.Tag{{Name: "v1", Priority: 1}, {Name: "v2", Priority: 5}},
		Ports: []arena.PortSpec{
			{Container: 7777, Protocol: arena.UDP},
			{Container: 8080, Protocol: arena.TCP},
		},
		Network:        arena.NetworkHost,
		Resources:      arena.Resources{MilliCPU: 500, MemoryMB: 512},
		Env:            map[string]string{"B": "2", "A": "1"},
		Args:           []string{"-x"},
		StopGrace:      10 * time.Second,
		ArtifactPaths:  []string{"/logs"},
		Registry:       &arena.RegistryAuth{Username: "u", Password: "secret"},
		SealedRegistry: []byte("sealed"),
		Source:         arena.SourceAPI,
		CreatedAt:      at,
		UpdatedAt:      at.Add(time.Hour),
	}
}

// limitedSession and limitedApplication are fullSession and
// fullApplication with the fields added since the first documents set too,
// which the first goldens leave out to show that old documents read as
// they were.
func limitedSession() *arena.Session {
	s := fullSession()
	s.ExternalID = "match-42"
	s.Limits = arena.Resources{MilliCPU: 3000, MemoryMB: 4096}
	return s
}

func limitedApplication() *arena.Application {
	a := fullApplication()
	a.Limits = arena.Resources{MilliCPU: 2000, MemoryMB: 1024}
	a.Regions = []string{"europe", "us-east"}
	a.TagKeep = 3
	a.NodePool = "default"
	return a
}

// securedSession and securedApplication are limitedSession and
// limitedApplication that also confine their containers, which the goldens
// before them leave out.
func securedSession() *arena.Session {
	s := limitedSession()
	s.Security = arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/run/game"}}
	return s
}

func securedApplication() *arena.Application {
	a := limitedApplication()
	a.Security = arena.ContainerSecurity{User: "games", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp"}}
	return a
}

// pooledApplication is securedApplication with its readiness and warm
// pools set, which the goldens before it leave out.
func pooledApplication() *arena.Application {
	a := securedApplication()
	a.Readiness = arena.Readiness{Mode: arena.ReadyOnPorts, Timeout: 30 * time.Second, RunOnTimeout: true}
	a.Pools = []arena.WarmPool{{Location: "rotterdam", Size: 4}, {Location: "europe", Tag: "v2", Size: 2, Mode: arena.PoolLaunch}}
	return a
}

// TestGolden pins the stored format byte for byte: the documents already on
// disk in both stores must keep reading as they were written. A difference
// here is a change of the format, not of the test.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		doc  any
	}{
		{"session.json", FromSession(fullSession())},
		{"session_zero.json", FromSession(&arena.Session{})},
		{"application.json", FromApplication(fullApplication())},
		{"application_zero.json", FromApplication(&arena.Application{})},
		{"session_limits.json", FromSession(limitedSession())},
		{"application_limits.json", FromApplication(limitedApplication())},
		{"session_security.json", FromSession(securedSession())},
		{"application_security.json", FromApplication(securedApplication())},
		{"application_pools.json", FromApplication(pooledApplication())},
		{"policy.json", FromPolicy(fullPolicy())},
	} {
		t.Run(c.file, func(t *testing.T) {
			got, err := json.Marshal(c.doc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Errorf("the stored format changed:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

// The fields of the domain types that are columns, or never stored, and so
// not in the documents.
var (
	sessionColumns     = []string{"ID", "OrgID", "NodeID", "State", "CreatedAt"}
	applicationColumns = []string{"OrgID", "Name", "Source", "CreatedAt", "UpdatedAt", "SealedRegistry", "Registry"}
)

// TestSessionRoundTrip fills every field of a session, so that a field added
// to arena.Session that the document does not carry (and is not a column)
// fails it.
func TestSessionRoundTrip(t *testing.T) {
	roundTrip(t, sessionColumns, FromSession, Session.ToSession)
}

// TestPolicyRoundTrip is TestSessionRoundTrip for scaling policies.
func TestPolicyRoundTrip(t *testing.T) {
	roundTrip(t, []string{"Region", "Source", "UpdatedAt"}, FromPolicy, Policy.ToPolicy)
}

// fullPolicy sets every field of a scaling policy.
func fullPolicy() *arena.ScalingPolicy {
	return &arena.ScalingPolicy{Region: "europe", Source: arena.SourceAPI, MinNodes: 1, MaxNodes: 4, MaxCostPerHour: 2.5,
		Offers: []arena.MachineOffer{{Provider: "hetzner", Region: "fsn1", Location: "eu-cloud", InstanceType: "cx22", Image: "ubuntu-24.04",
			CostPerHour: 0.0125, Capacity: arena.Resources{MilliCPU: 2000, MemoryMB: 4096}}},
		Buffer:          arena.ScalingBuffer{Sessions: 10, OrgID: "studio", Application: "echo", Resources: arena.Resources{MilliCPU: 500, MemoryMB: 256}},
		ScaleUpCooldown: 30 * time.Second, ScaleDownCooldown: time.Minute, IdleTimeout: 10 * time.Minute, JoinTimeout: 5 * time.Minute,
		UpdatedAt: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)}
}

// TestApplicationRoundTrip is TestSessionRoundTrip for applications.
func TestApplicationRoundTrip(t *testing.T) {
	roundTrip(t, applicationColumns, FromApplication, Application.ToApplication)
}

// TestToOverwrites checks that ToSession and ToApplication set what they
// store even where the target already holds something, nil included.
func TestToOverwrites(t *testing.T) {
	s := fullSession()
	FromSession(&arena.Session{}).ToSession(s)
	want := arena.Session{ID: s.ID, OrgID: s.OrgID, NodeID: s.NodeID, State: s.State, CreatedAt: s.CreatedAt}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("ToSession of an empty document:\ngot  %+v\nwant %+v", *s, want)
	}
	a := fullApplication()
	FromApplication(&arena.Application{}).ToApplication(a)
	wantApp := arena.Application{OrgID: a.OrgID, Name: a.Name, Source: a.Source, CreatedAt: a.CreatedAt,
		UpdatedAt: a.UpdatedAt, SealedRegistry: a.SealedRegistry, Registry: a.Registry}
	if !reflect.DeepEqual(*a, wantApp) {
		t.Errorf("ToApplication of an empty document:\ngot  %+v\nwant %+v", *a, wantApp)
	}
}

// TestOldDocuments reads the first goldens, written before limits, regions,
// tagKeep, nodePool and external ids, and checks that those read as unset;
// and every golden written before containers' security settings, checking
// that they read as the image's user on a writable root.
func TestOldDocuments(t *testing.T) {
	unconfined := func(t *testing.T, b []byte, to func(Security) arena.ContainerSecurity) {
		t.Helper()
		var d Security
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if got := to(d); !reflect.DeepEqual(got, arena.ContainerSecurity{}) {
			t.Errorf("security %+v, want none", got)
		}
	}
	sessionSecurity := func(d Security) arena.ContainerSecurity {
		var s arena.Session
		Session{Security: d}.ToSession(&s)
		return s.Security
	}
	applicationSecurity := func(d Security) arena.ContainerSecurity {
		var a arena.Application
		Application{Security: d}.ToApplication(&a)
		return a.Security
	}
	for _, c := range []struct {
		file  string
		check func(t *testing.T, b []byte)
	}{
		{"session_limits.json", func(t *testing.T, b []byte) { unconfined(t, b, sessionSecurity) }},
		{"session_zero.json", func(t *testing.T, b []byte) { unconfined(t, b, sessionSecurity) }},
		{"application_limits.json", func(t *testing.T, b []byte) { unconfined(t, b, applicationSecurity) }},
		{"application_zero.json", func(t *testing.T, b []byte) { unconfined(t, b, applicationSecurity) }},
		{"session.json", func(t *testing.T, b []byte) {
			var d Session
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			var s arena.Session
			d.ToSession(&s)
			if s.Limits != (arena.Resources{}) || s.ExternalID != "" || !reflect.DeepEqual(s.Security, arena.ContainerSecurity{}) {
				t.Errorf("limits %+v, external id %q, security %+v; want all unset", s.Limits, s.ExternalID, s.Security)
			}
			if want := fullSession().Resources; s.Resources != want {
				t.Errorf("resources %+v, want %+v", s.Resources, want)
			}
		}},
		{"application.json", func(t *testing.T, b []byte) {
			var d Application
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			var a arena.Application
			d.ToApplication(&a)
			if a.Limits != (arena.Resources{}) || a.Regions != nil || a.TagKeep != 0 || a.NodePool != "" || !reflect.DeepEqual(a.Security, arena.ContainerSecurity{}) {
				t.Errorf("limits %+v, regions %v, tagKeep %d, nodePool %q, security %+v; want all unset", a.Limits, a.Regions, a.TagKeep, a.NodePool, a.Security)
			}
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, b)
		})
	}
}

func TestNanos(t *testing.T) {
	if n := Nanos(time.Time{}); n != 0 {
		t.Errorf("Nanos(zero) = %d, want 0", n)
	}
	if tm := FromNanos(0); !tm.IsZero() {
		t.Errorf("FromNanos(0) = %v, want the zero time", tm)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	if n := Nanos(at); n != at.UnixNano() {
		t.Errorf("Nanos(%v) = %d, want %d", at, n, at.UnixNano())
	}
	got := FromNanos(Nanos(at))
	if !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("FromNanos(Nanos(%v)) = %v, want the same instant in UTC", at, got)
	}
}

// viaJSON returns d as it reads back from its JSON, as a store reads it.
func viaJSON[D any](t *testing.T, d D) D {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out D
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fill sets v, and everything in it, to non-zero values that differ from
// each other, counting in n.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(1700000000, int64(*n)).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v" + strconv.Itoa(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(t, v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			fill(t, e, n)
			v.SetMapIndex(k, e)
		}
	default:
		t.Fatalf("fill: no value for a %s", v.Type())
	}
}

// assertAllSet fails if any field of the document d is zero: a document
// field that FromSession or FromApplication does not set.
func assertAllSet(t *testing.T, d reflect.Value) {
	t.Helper()
	for i := range d.NumField() {
		if d.Field(i).IsZero() {
			t.Errorf("%s.%s is not set from a full value", d.Type().Name(), d.Type().Field(i).Name)
		}
	}
}

// differing returns the names of the fields in which the structs a and b differ.
func differing[T any](a, b T) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	return out
}

func assertZero(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	if !v.IsZero() {
		t.Errorf("%s is a column, yet the document set it to %v", name, v)
	}
}

// nodeColumns are the fields of arena.Node the stores keep in columns of
// their own rather than in its document.
var nodeColumns = []string{"ID", "CredentialHash"}

// TestNodeRoundTrip is TestSessionRoundTrip for nodes.
func TestNodeRoundTrip(t *testing.T) {
	roundTrip(t, nodeColumns, FromNode, Node.ToNode)
}

// roundTrip fills every field of a T, so that a field added to it that its
// document does not carry (and is not among columns, which the stores keep
// apart) fails the test.
func roundTrip[T, D any](t *testing.T, columns []string, from func(*T) D, to func(D, *T)) {
	t.Helper()
	var want T
	fill(t, reflect.ValueOf(&want).Elem(), new(int))

	d := from(&want)
	assertAllSet(t, reflect.ValueOf(d))
	var got T
	to(viaJSON(t, d), &got)
	for _, f := range columns {
		assertZero(t, reflect.ValueOf(got).FieldByName(f), f)
		reflect.ValueOf(&got).Elem().FieldByName(f).Set(reflect.ValueOf(want).FieldByName(f))
	}
	for _, f := range differing(got, want) {
		t.Errorf("%s is lost on the way through the document: add it to the document, or to the columns", f)
	}
}
