package imageref_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/imageref"
)

func TestRepository(t *testing.T) {
	tests := []struct {
		name, repository string
		ok               bool
		// domain says whether arena.Application.Validate agrees; the
		// parsers are the authority where it does not.
		domain bool
	}{
		{"Docker Hub", "studio/game", true, true},
		{"one component", "arena-echo", true, true},
		{"a registry host", "registry.example.com/studio/game", true, true},
		{"a registry with a port", "registry.example.com:5000/studio/game", true, true},
		{"a host that is a port", "registry:5000/game", true, true},
		{"localhost", "localhost/game", true, true},
		{"capitals in the host", "Registry.Example.com/game", true, true},
		{"separators", "studio/a__b--c.d_e", true, true},
		{"an IPv6 host", "[::1]:5000/game", true, false},
		{"a first component in capitals", "UPPER/case", false, false},
		{"capitals in the path", "studio/Game", false, false},
		{"an empty component", "studio//game", false, false},
		{"a leading separator", "-game", false, false},
		{"a tag", "studio/game:v1", false, false},
		{"a digest", "studio/game@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false, false},
		{"64 hex digits", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false, true},
		{"empty", "", false, false},
		{"a space", "studio/my game", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := imageref.Repository(tt.repository)
			if (err == nil) != tt.ok {
				t.Errorf("Repository(%q) = %v, want ok %v", tt.repository, err, tt.ok)
			}
			a := &arena.Application{Name: "g", Repository: tt.repository, Resources: arena.Resources{MilliCPU: 1, MemoryMB: 1}}
			refused := slices.ContainsFunc(arena.ErrorViolations(a.Validate()), func(v arena.Violation) bool { return v.Field == "repository" })
			if refused == tt.domain {
				t.Errorf("Validate refuses %q: %v, want %v", tt.repository, refused, !tt.domain)
			}
		})
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"registry.example.com", true},
		{"registry.example.com:5000", true},
		{"localhost", true},
		{"localhost:5000", true},
		{"registry:5000", true},
		{"Registry.Example.com", true},
		{"[::1]:5000", true},
		{"UPPER", false},    // Docker's parser takes it for a host, the registry client for a path
		{"registry", false}, // a path on Docker Hub
		{"a_b.example.com", false},
		{"registry.example.com/studio", false},
		{"x:y", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if err := imageref.Host(tt.host); (err == nil) != tt.ok {
				t.Errorf("Host(%q) = %v, want ok %v", tt.host, err, tt.ok)
			}
		})
	}
}

func TestApplication(t *testing.T) {
	tests := []struct {
		name       string
		repository string
		tags       []string
		fields     []string
	}{
		{"valid", "studio/game", []string{"v1", "latest", "1.2.3_rc-1"}, nil},
		{"a bad repository", "UPPER/case", []string{"v1"}, []string{"repository"}},
		{"bad tags", "studio/game", []string{"v1", "-x", ".y", "a/b"}, []string{"tags[1].name", "tags[2].name", "tags[3].name"}},
		{"a tag too long", "studio/game", []string{strings.Repeat("v", 129)}, []string{"tags[0].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &arena.Application{Repository: tt.repository}
			for _, tag := range tt.tags {
				a.Tags = append(a.Tags, arena.Tag{Name: tag})
			}
			var got []string
			for _, v := range imageref.Application(a) {
				got = append(got, v.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("violations of %v = %q, want %q", a, got, tt.fields)
			}
		})
	}
}
