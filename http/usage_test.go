package http_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name, query string
		status      int
		contains    string
	}{
		{"json", "?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z", 200, `"totalSeconds":5402`},
		{"json names the currency", "?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z", 200, `"currency":"EUR"`},
		{"csv", "?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&format=csv", 200,
			"application,location,milli_cpu,memory_mb,sessions,seconds,cost,currency,warm_pool_sessions,warm_pool_seconds\nmy-game,europe-ams1,100,64,2,5400,0.150000,EUR,0,0\nmy-game,us-iad1,1000,1024,1,2,,,0,0\n"},
		{"defaults to the last 30 days", "", 200, `"lines":[`},
		{"bad time", "?from=yesterday", 422, `"field":"from"`},
		{"bad format", "?format=xml", 422, `"field":"format"`},
		{"empty period", "?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", 422, `"field":"to"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.do(t, http.MethodGet, "/usage"+tt.query, "")
			if r.status != tt.status || !strings.Contains(string(r.body), tt.contains) {
				t.Fatalf("status %d, body %s; want %d with %q", r.status, r.body, tt.status, tt.contains)
			}
		})
	}
}
