package http_test

import (
	"net/http"
	"testing"
)

func TestArtifacts(t *testing.T) {
	tests := []struct {
		name, path string
		status     int
	}{
		{"download", "/artifacts?session=s-1&path=/replays", 200},
		{"the platform reference's path", "/artifact?session=s-1&path=/replays/", 200},
		{"nothing kept there", "/artifacts?session=s-1&path=/etc", 404},
		{"unknown session", "/artifacts?session=nope&path=/replays", 404},
		{"session still running", "/artifacts?session=s-running&path=/replays", 409},
		{"relative path", "/artifacts?session=s-1&path=replays", 422},
		{"no session", "/artifacts?path=/replays", 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, tt.path, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 && (string(r.body) != "tar.gz bytes" || r.header.Get("Content-Type") != "application/x-tar") {
				t.Fatalf("download %q (%s)", r.body, r.header.Get("Content-Type"))
			}
		})
	}
}
