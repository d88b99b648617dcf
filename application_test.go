package arena_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

func TestEnableTag(t *testing.T) {
	tags := func(names ...string) []arena.Tag {
		out := make([]arena.Tag, len(names))
		for i, n := range names {
			out[i] = arena.Tag{Name: n, Priority: i + 1}
		}
		return out
	}
	tests := []struct {
		name    string
		tags    []arena.Tag
		keep    int
		enable  string
		changed bool
		want    []arena.Tag
	}{
		{"the first tag", nil, 0, "1.0", true, []arena.Tag{{Name: "1.0", Priority: 1}}},
		{"a new tag goes on top", tags("1.0", "1.1"), 0, "1.2", true, []arena.Tag{{"1.0", 1}, {"1.1", 2}, {"1.2", 3}}},
		{"an enabled tag keeps its priority", tags("1.0", "1.1"), 0, "1.0", false, tags("1.0", "1.1")},
		{"tagKeep retires the lowest priority", tags("1.0", "1.1"), 2, "1.2", true, []arena.Tag{{"1.1", 2}, {"1.2", 3}}},
		{"tagKeep 1 keeps the new tag alone", tags("1.0", "1.1"), 1, "2.0", true, []arena.Tag{{"2.0", 3}}},
		{"priorities need not be ordered", []arena.Tag{{"b", 5}, {"a", -2}, {"c", 0}}, 3, "d", true, []arena.Tag{{"b", 5}, {"c", 0}, {"d", 6}}},
		{"equal priorities retire the first listed", []arena.Tag{{"a", 1}, {"b", 1}}, 2, "c", true, []arena.Tag{{"b", 1}, {"c", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &arena.Application{Tags: slices.Clone(tt.tags), TagKeep: tt.keep}
			if got := a.EnableTag(tt.enable); got != tt.changed {
				t.Errorf("EnableTag = %v, want %v", got, tt.changed)
			}
			if !slices.Equal(a.Tags, tt.want) {
				t.Errorf("tags = %v, want %v", a.Tags, tt.want)
			}
			if def, _ := a.DefaultTag(); def != tt.enable && tt.changed {
				t.Errorf("default tag = %q, want the enabled %q", def, tt.enable)
			}
		})
	}
}

func TestSessionLimits(t *testing.T) {
	reserved := arena.Resources{MilliCPU: 500, MemoryMB: 256}
	tests := []struct {
		name   string
		limits arena.Resources
		want   arena.Resources
	}{
		{"no limits take the reservation", arena.Resources{}, reserved},
		{"limits", arena.Resources{MilliCPU: 2000, MemoryMB: 1024}, arena.Resources{MilliCPU: 2000, MemoryMB: 1024}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &arena.Application{Resources: reserved, Limits: tt.limits}
			if got := a.SessionLimits(); got != tt.want {
				t.Errorf("SessionLimits = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestApplicationValidate(t *testing.T) {
	valid := func() arena.Application {
		return arena.Application{
			Name: "duel", Repository: "registry.example.com/studio/duel",
			Tags:      []arena.Tag{{Name: "v1", Priority: 1}, {Name: "v2", Priority: 2}},
			Ports:     []arena.PortSpec{{Container: 7777, Protocol: arena.UDP}},
			Resources: arena.Resources{MilliCPU: 500, MemoryMB: 256},
		}
	}
	regions := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("region-%d", i)
		}
		return out
	}
	tests := []struct {
		name   string
		modify func(a *arena.Application)
		fields []string
	}{
		{"valid", func(a *arena.Application) {}, nil},
		{"no tags", func(a *arena.Application) { a.Tags = nil }, nil},
		{"too many tags", func(a *arena.Application) {
			a.Tags = make([]arena.Tag, arena.MaxTags+1)
			for i := range a.Tags {
				a.Tags[i] = arena.Tag{Name: fmt.Sprintf("v%d", i)}
			}
		}, []string{"tags"}},
		{"limits above the reservation", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 2000, MemoryMB: 1024}
		}, nil},
		{"limits equal to the reservation", func(a *arena.Application) { a.Limits = a.Resources }, nil},
		{"limits at the upper bounds", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 1_000_000, MemoryMB: 16 << 20}
		}, nil},
		{"cpu limit below the reservation", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 499, MemoryMB: 1024}
		}, []string{"limits"}},
		{"memory limit below the reservation", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 1000, MemoryMB: 255}
		}, []string{"limits"}},
		{"cpu limit alone", func(a *arena.Application) { a.Limits = arena.Resources{MilliCPU: 1000} }, []string{"limits"}},
		{"cpu limit above 1000 cores", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 1_000_001, MemoryMB: 1024}
		}, []string{"limits"}},
		{"memory limit above 16 TiB", func(a *arena.Application) {
			a.Limits = arena.Resources{MilliCPU: 1000, MemoryMB: 16<<20 + 1}
		}, []string{"limits"}},
		{"regions", func(a *arena.Application) { a.Regions = []string{"europe", "us-east"} }, nil},
		{"32 regions", func(a *arena.Application) { a.Regions = regions(arena.MaxRegions) }, nil},
		{"33 regions", func(a *arena.Application) { a.Regions = regions(arena.MaxRegions + 1) }, []string{"regions"}},
		{"a region twice", func(a *arena.Application) { a.Regions = []string{"europe", "asia", "europe"} }, []string{"regions[2]"}},
		{"an invalid region", func(a *arena.Application) { a.Regions = []string{"europe", "US East"} }, []string{"regions[1]"}},
		{"an empty region", func(a *arena.Application) { a.Regions = []string{""} }, []string{"regions[0]"}},
		{"tagKeep", func(a *arena.Application) { a.TagKeep = 2 }, nil},
		{"tagKeep at most", func(a *arena.Application) { a.TagKeep = arena.MaxTags }, nil},
		{"negative tagKeep", func(a *arena.Application) { a.TagKeep = -1 }, []string{"tagKeep"}},
		{"tagKeep above the most tags", func(a *arena.Application) { a.TagKeep = arena.MaxTags + 1 }, []string{"tagKeep"}},
		{"more tags than tagKeep", func(a *arena.Application) { a.TagKeep = 1 }, []string{"tags"}},
		{"tagKeep without tags", func(a *arena.Application) { a.Tags, a.TagKeep = nil, 1 }, nil},
		{"nodePool", func(a *arena.Application) { a.NodePool = "default" }, nil},
		{"an invalid nodePool", func(a *arena.Application) { a.NodePool = "-pool" }, []string{"nodePool"}},
		{"a long nodePool", func(a *arena.Application) { a.NodePool = strings.Repeat("p", arena.MaxEntityID+1) }, []string{"nodePool"}},
		{"a repository on Docker Hub", func(a *arena.Application) { a.Repository = "studio/duel" }, nil},
		{"a repository of one component", func(a *arena.Application) { a.Repository = "duel" }, nil},
		{"a registry with a port", func(a *arena.Application) { a.Repository = "registry:5000/studio/duel" }, nil},
		{"localhost", func(a *arena.Application) { a.Repository = "localhost/duel" }, nil},
		{"separators Docker allows", func(a *arena.Application) { a.Repository = "studio/duel__x--y.z_w" }, nil},
		{"capitals in the host", func(a *arena.Application) { a.Repository = "Registry.Example.com/studio/duel" }, nil},
		{"a first component in capitals", func(a *arena.Application) { a.Repository = "UPPER/case" }, []string{"repository"}},
		{"a path in capitals", func(a *arena.Application) { a.Repository = "studio/Duel" }, []string{"repository"}},
		{"an empty component", func(a *arena.Application) { a.Repository = "studio//duel" }, []string{"repository"}},
		{"a tag in the repository", func(a *arena.Application) { a.Repository = "studio/duel:v1" }, []string{"repository"}},
		{"every new field wrong", func(a *arena.Application) {
			a.Limits, a.Regions, a.TagKeep, a.NodePool = arena.Resources{MilliCPU: 1}, []string{"Bad"}, -1, "Bad"
		}, []string{"tagKeep", "limits", "regions[0]", "nodePool"}},
		{"locked down", func(a *arena.Application) {
			a.Security = arena.ContainerSecurity{User: "65534:65534", ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/var/run/game"}}
			a.ArtifactPaths = []string{"/replays"}
		}, nil},
		{"a read-only root alone", func(a *arena.Application) { a.Security.ReadOnlyRootFS = true }, nil},
		{"a tmpfs on a writable root", func(a *arena.Application) { a.Security.Tmpfs = []string{"/scratch"} }, nil},
		{"an artifact on a tmpfs", func(a *arena.Application) {
			a.Security.Tmpfs, a.ArtifactPaths = []string{"/logs", "/tmp"}, []string{"/replays", "/tmp/crash.dmp"}
		}, []string{"artifacts[1]"}},
		{"an artifact that is a tmpfs", func(a *arena.Application) {
			a.Security.Tmpfs, a.ArtifactPaths = []string{"/tmp"}, []string{"/tmp"}
		}, []string{"artifacts[0]"}},
		{"an artifact beside a tmpfs of a similar name", func(a *arena.Application) {
			a.Security.Tmpfs, a.ArtifactPaths = []string{"/tmp"}, []string{"/tmpfiles", "/tm"}
		}, nil},
		{"an artifact above a tmpfs", func(a *arena.Application) {
			a.Security.Tmpfs, a.ArtifactPaths = []string{"/data/tmp"}, []string{"/data"}
		}, nil},
		{"security settings wrong with the rest", func(a *arena.Application) {
			a.Security = arena.ContainerSecurity{User: "a b", Tmpfs: []string{"tmp"}}
			a.Registry = &arena.RegistryAuth{}
		}, []string{"user", "tmpfs[0]", "registry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid()
			tt.modify(&a)
			checkViolations(t, a.Validate(), tt.fields)
		})
	}
}

func TestContainerSecurityValidate(t *testing.T) {
	paths := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("/scratch/%d", i)
		}
		return out
	}
	tests := []struct {
		name   string
		sec    arena.ContainerSecurity
		fields []string
	}{
		{"the image as it is", arena.ContainerSecurity{}, nil},
		{"a uid", arena.ContainerSecurity{User: "1000"}, nil},
		{"a uid and gid", arena.ContainerSecurity{User: "65534:65534"}, nil},
		{"root by number", arena.ContainerSecurity{User: "0"}, nil},
		{"the largest uid", arena.ContainerSecurity{User: "2147483647:2147483647"}, nil},
		{"a name", arena.ContainerSecurity{User: "games"}, nil},
		{"a name and group", arena.ContainerSecurity{User: "_game-server.1:games"}, nil},
		{"a name and gid", arena.ContainerSecurity{User: "games:60"}, nil},
		{"a name of 32", arena.ContainerSecurity{User: strings.Repeat("u", 32)}, nil},
		{"a name of 33", arena.ContainerSecurity{User: strings.Repeat("u", 33)}, []string{"user"}},
		{"a uid past the largest", arena.ContainerSecurity{User: "2147483648"}, []string{"user"}},
		{"a gid past the largest", arena.ContainerSecurity{User: "1000:99999999999"}, []string{"user"}},
		{"a negative uid", arena.ContainerSecurity{User: "-1"}, []string{"user"}},
		{"an empty group", arena.ContainerSecurity{User: "1000:"}, []string{"user"}},
		{"a group alone", arena.ContainerSecurity{User: ":1000"}, []string{"user"}},
		{"three parts", arena.ContainerSecurity{User: "1000:1000:1000"}, []string{"user"}},
		{"a name starting with a digit", arena.ContainerSecurity{User: "1games"}, []string{"user"}},
		{"a space", arena.ContainerSecurity{User: "game server"}, []string{"user"}},
		{"tmpfs paths", arena.ContainerSecurity{ReadOnlyRootFS: true, Tmpfs: []string{"/tmp", "/var/lib/game@1", "/run/x.sock-dir+"}}, nil},
		{"as many tmpfs as allowed", arena.ContainerSecurity{Tmpfs: paths(arena.MaxTmpfs)}, nil},
		{"one tmpfs too many", arena.ContainerSecurity{Tmpfs: paths(arena.MaxTmpfs + 1)}, []string{"tmpfs"}},
		{"nested tmpfs", arena.ContainerSecurity{Tmpfs: []string{"/data", "/data/cache"}}, nil},
		{"a relative tmpfs", arena.ContainerSecurity{Tmpfs: []string{"tmp"}}, []string{"tmpfs[0]"}},
		{"a tmpfs on the root", arena.ContainerSecurity{Tmpfs: []string{"/"}}, []string{"tmpfs[0]"}},
		{"an empty tmpfs", arena.ContainerSecurity{Tmpfs: []string{""}}, []string{"tmpfs[0]"}},
		{"a trailing slash", arena.ContainerSecurity{Tmpfs: []string{"/tmp/"}}, []string{"tmpfs[0]"}},
		{"a double slash", arena.ContainerSecurity{Tmpfs: []string{"/var//tmp"}}, []string{"tmpfs[0]"}},
		{"a dot-dot", arena.ContainerSecurity{Tmpfs: []string{"/tmp/../etc"}}, []string{"tmpfs[0]"}},
		{"a dot", arena.ContainerSecurity{Tmpfs: []string{"/tmp/."}}, []string{"tmpfs[0]"}},
		{"mount options smuggled in", arena.ContainerSecurity{Tmpfs: []string{"/tmp,size=100g"}}, []string{"tmpfs[0]"}},
		{"a colon", arena.ContainerSecurity{Tmpfs: []string{"/tmp:exec"}}, []string{"tmpfs[0]"}},
		{"a space in a tmpfs", arena.ContainerSecurity{Tmpfs: []string{"/my tmp"}}, []string{"tmpfs[0]"}},
		{"the longest tmpfs", arena.ContainerSecurity{Tmpfs: []string{"/" + strings.Repeat("t", arena.MaxTmpfsPath-1)}}, nil},
		{"a tmpfs too long", arena.ContainerSecurity{Tmpfs: []string{"/" + strings.Repeat("t", arena.MaxTmpfsPath)}}, []string{"tmpfs[0]"}},
		{"over /proc", arena.ContainerSecurity{Tmpfs: []string{"/proc"}}, []string{"tmpfs[0]"}},
		{"within /sys", arena.ContainerSecurity{Tmpfs: []string{"/sys/fs/cgroup"}}, []string{"tmpfs[0]"}},
		{"within /dev", arena.ContainerSecurity{Tmpfs: []string{"/tmp", "/dev/shm"}}, []string{"tmpfs[1]"}},
		{"a folder named like /dev", arena.ContainerSecurity{Tmpfs: []string{"/devices", "/process"}}, nil},
		{"a tmpfs twice", arena.ContainerSecurity{Tmpfs: []string{"/tmp", "/run", "/tmp"}}, []string{"tmpfs[2]"}},
		{"everything wrong", arena.ContainerSecurity{User: "root:", Tmpfs: []string{"/proc", "x"}}, []string{"user", "tmpfs[0]", "tmpfs[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkViolations(t, tt.sec.Validate(), tt.fields)
		})
	}
}
