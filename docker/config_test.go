package docker

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/arena-hq/arena"
)

func TestContainerConfig(t *testing.T) {
	rt := NewRuntime(nil)
	base := func() arena.ContainerSpec {
		return arena.ContainerSpec{
			Name:   "arena-s1",
			Image:  "game:1",
			Env:    map[string]string{"B": "2", "A": "1", "C": "x=y"},
			Labels: map[string]string{arena.LabelNode: "n1", arena.LabelSession: "s1"},
			Ports:  []arena.Port{{Protocol: arena.UDP, Container: 7777, Host: 30001}},
		}
	}
	udp7777 := network.MustParsePort("7777/udp")

	t.Run("bridge", func(t *testing.T) {
		spec := base()
		cfg, hc, err := rt.containerConfig(spec)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"A=1", "B=2", "C=x=y"}; !slices.Equal(cfg.Env, want) {
			t.Errorf("env = %q, want %q", cfg.Env, want)
		}
		if cfg.Cmd != nil {
			t.Errorf("cmd = %q, want the image's", cfg.Cmd)
		}
		if hc.NetworkMode != network.NetworkBridge {
			t.Errorf("network = %q", hc.NetworkMode)
		}
		if _, ok := cfg.ExposedPorts[udp7777]; !ok {
			t.Errorf("exposed = %v", cfg.ExposedPorts)
		}
		want := []network.PortBinding{{HostIP: netip.Addr{}, HostPort: "30001"}}
		if got := hc.PortBindings[udp7777]; !slices.Equal(got, want) {
			t.Errorf("bindings = %+v, want %+v", got, want)
		}
		if hc.NanoCPUs != 0 || hc.Memory != 0 {
			t.Errorf("no resources asked, got cpu %d memory %d", hc.NanoCPUs, hc.Memory)
		}
		spec.Labels["mutated"] = "yes"
		if _, ok := cfg.Labels["mutated"]; ok {
			t.Error("the config shares the spec's label map")
		}
	})

	t.Run("launcher", func(t *testing.T) {
		spec := base()
		spec.Args, spec.LauncherDir = []string{"-ignored"}, "/var/lib/arena/launch/sessions/arena-s1"
		cfg, hc, err := rt.containerConfig(spec)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Entrypoint, []string{"/.arena/launcher"}) || cfg.Cmd != nil {
			t.Errorf("entrypoint %q, cmd %q; want the launcher alone", cfg.Entrypoint, cfg.Cmd)
		}
		want := []mount.Mount{{Type: mount.TypeBind, Source: spec.LauncherDir, Target: "/.arena", ReadOnly: true}}
		if !slices.Equal(hc.Mounts, want) {
			t.Errorf("mounts %+v, want %+v", hc.Mounts, want)
		}
		spec.LauncherDir = "relative/dir"
		if _, _, err := rt.containerConfig(spec); arena.ErrorCode(err) != arena.EINVALID {
			t.Errorf("a relative launcher directory: %v, want invalid", err)
		}
	})

	t.Run("host", func(t *testing.T) {
		spec := base()
		spec.Network = arena.NetworkHost
		spec.Args = []string{"--port", "7777"}
		cfg, hc, err := rt.containerConfig(spec)
		if err != nil {
			t.Fatal(err)
		}
		if hc.NetworkMode != network.NetworkHost || len(hc.PortBindings) != 0 || len(cfg.ExposedPorts) != 0 {
			t.Errorf("network %q, bindings %v, exposed %v", hc.NetworkMode, hc.PortBindings, cfg.ExposedPorts)
		}
		if !slices.Equal(cfg.Cmd, spec.Args) {
			t.Errorf("cmd = %q", cfg.Cmd)
		}
	})

	invalid := []struct {
		name   string
		modify func(*arena.ContainerSpec)
		field  string
	}{
		{"no name", func(s *arena.ContainerSpec) { s.Name = "" }, "name"},
		{"no image", func(s *arena.ContainerSpec) { s.Image = "" }, "image"},
		{"no node label", func(s *arena.ContainerSpec) { delete(s.Labels, arena.LabelNode) }, "labels"},
		{"bad bind ip", func(s *arena.ContainerSpec) { s.BindIP = "::1::" }, "bindIP"},
		{"bad protocol", func(s *arena.ContainerSpec) { s.Ports[0].Protocol = "sctp" }, "ports[0].protocol"},
		{"container port 0", func(s *arena.ContainerSpec) { s.Ports[0].Container = 0 }, "ports[0].container"},
		{"host port too big", func(s *arena.ContainerSpec) { s.Ports[0].Host = 70000 }, "ports[0].host"},
		{"bad network", func(s *arena.ContainerSpec) { s.Network = "none" }, "network"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			spec := base()
			tt.modify(&spec)
			_, _, err := rt.containerConfig(spec)
			if arena.ErrorCode(err) != arena.EINVALID {
				t.Fatalf("error = %v, want %s", err, arena.EINVALID)
			}
			if v := arena.ErrorViolations(err); len(v) != 1 || v[0].Field != tt.field {
				t.Errorf("violations = %+v, want one of %s", v, tt.field)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2024-05-06T07:08:09.123456789Z", time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)},
		{"0001-01-01T00:00:00Z", time.Time{}},
		{"", time.Time{}},
		{"garbage", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseTime(tt.in); !got.Equal(tt.want) {
				t.Errorf("parseTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
