package http_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestLogs(t *testing.T) {
	tests := []struct {
		name, query string
		status      int
		body        string
	}{
		{"output", "?id=s-1", 200, "echo server listening\n"},
		{"follow", "?id=s-1&follow=true", 200, "echo server listening\nfollowing\n"},
		{"unknown session", "?id=nope", 404, ""},
		{"node unreachable", "?id=s-down", 420, ""},
		{"no id", "", 422, ""},
		{"bad follow", "?id=s-1&follow=maybe", 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, "/logs"+tt.query, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.body != "" && string(r.body) != tt.body {
				t.Fatalf("body %q, want %q", r.body, tt.body)
			}
			if tt.status == 200 && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}
}
