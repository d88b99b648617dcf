package webhook

import (
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		events []string
		// want lists the fields of the violations, in order; none for valid.
		want []string
	}{
		{name: "https, all events", url: "https://mm.example.com/arena/webhooks"},
		{name: "http with port and query", url: "http://10.0.0.5:8080/hook?env=prod", events: []string{EventSessionStopped}},
		{name: "every type", url: "https://example.com", events: EventTypes},
		{name: "upper-case scheme", url: "HTTPS://example.com/"},
		{name: "empty", url: "", want: []string{"url"}},
		{name: "relative", url: "/hook", want: []string{"url"}},
		{name: "no host", url: "https:///hook", want: []string{"url"}},
		{name: "opaque", url: "http:example.com", want: []string{"url"}},
		{name: "file", url: "file:///etc/passwd", want: []string{"url"}},
		{name: "ftp", url: "ftp://example.com/x", want: []string{"url"}},
		{name: "javascript", url: "javascript:alert(1)", want: []string{"url"}},
		{name: "unparsable", url: "https://exa mple.com/%zz", want: []string{"url"}},
		{name: "longest", url: "https://example.com/" + strings.Repeat("a", MaxURL-len("https://example.com/"))},
		{name: "too long", url: "https://example.com/" + strings.Repeat("a", MaxURL), want: []string{"url"}},
		{name: "unknown event", url: "https://example.com", events: []string{EventSessionStarted, "session.exploded"}, want: []string{"events[1]"}},
		{name: "duplicate event", url: "https://example.com", events: []string{EventSessionStarted, EventSessionStarted}, want: []string{"events[1]"}},
		{name: "everything wrong", url: "gopher://x", events: []string{"", "session.started"}, want: []string{"url", "events[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEndpoint(tt.url, tt.events)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateEndpoint = %v, want nil", err)
				}
				return
			}
			if code := arena.ErrorCode(err); code != arena.EINVALID {
				t.Fatalf("ValidateEndpoint = %v (code %q), want %s", err, code, arena.EINVALID)
			}
			var fields []string
			for _, v := range arena.ErrorViolations(err) {
				if v.Description == "" {
					t.Errorf("violation of %s has no description", v.Field)
				}
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, tt.want) {
				t.Fatalf("violations of %v, want %v (%v)", fields, tt.want, err)
			}
		})
	}
}
