package http_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/http/apitest"
)

// loadOurs loads a fresh copy of our document, which the caller may modify.
func loadOurs(tb testing.TB) *openapi3.T {
	tb.Helper()
	return apitest.NewChecker(tb).Document()
}

// TestOpenAPILimits checks that the limits the document states for SessionRun
// are the ones Validate applies.
func TestOpenAPILimits(t *testing.T) {
	run := loadOurs(t).Components.Schemas["SessionRunBody"].Value
	prop := func(name string) *openapi3.Schema { return run.Properties[name].Value }
	ttlSeconds := prop("ttl").OneOf[0].Value
	u := func(p *uint64) int64 {
		if p == nil {
			return -1
		}
		return int64(*p)
	}
	f := func(p *float64) int64 {
		if p == nil {
			return -1
		}
		return int64(*p)
	}
	tests := []struct {
		name      string
		got, want int64
	}{
		{"id maxLength", u(prop("id").MaxLength), arena.MaxIDLength},
		{"location maxLength", u(prop("location").MaxLength), arena.MaxNameLength},
		{"image maxLength", u(prop("image").MaxLength), arena.MaxNameLength},
		{"version maxLength", u(prop("version").MaxLength), arena.MaxNameLength},
		{"env maxProperties", u(prop("env").MaxProps), arena.MaxEnvEntries},
		{"env value maxLength", u(prop("env").AdditionalProperties.Schema.Value.MaxLength), arena.MaxEnvValueBytes},
		{"args maxItems", u(prop("args").MaxItems), arena.MaxArgs},
		{"args item maxLength", u(prop("args").Items.Value.MaxLength), arena.MaxArgBytes},
		{"labels maxProperties", u(prop("labels").MaxProps), arena.MaxLabels},
		{"labels value maxLength", u(prop("labels").AdditionalProperties.Schema.Value.MaxLength), arena.MaxLabelValBytes},
		{"ttl maximum", f(ttlSeconds.Max), int64(arena.MaxTTL / time.Second)},
		{"ttl minimum", f(ttlSeconds.Min), 0},
		{"external_id maxLength", u(prop("external_id").MaxLength), arena.MaxExternalID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("the document says %d, Validate applies %d", tt.got, tt.want)
			}
		})
	}
}

// TestOpenAPIOperationsAreRouted checks the other direction of the checker:
// every operation of the document is routed by the server, not answered as
// an unknown route.
func TestOpenAPIOperationsAreRouted(t *testing.T) {
	api := newTestAPI(t, nil)
	for key, op := range operations(loadOurs(t)) {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			method, path, _ := strings.Cut(key, " ")
			path = strings.ReplaceAll(path, "{id}", "s-1")
			req := api.request(t, method, path, "")
			req.Header.Del("Authorization")
			r := api.send(t, req)
			want := 401 // every operation needs a token unless its own security is empty
			if op.op.Security != nil && len(*op.op.Security) == 0 {
				want = 200
			}
			if r.status != want {
				t.Errorf("status = %d without a token, want %d; body: %s", r.status, want, r.body)
			}
		})
	}
}

// TestOpenAPIDocumentServed checks that the server serves the document it embeds.
func TestOpenAPIDocumentServed(t *testing.T) {
	api := newTestAPI(t, nil)
	r := api.do(t, "GET", "/openapi.yaml", "")
	if !bytes.Equal(r.body, arenahttp.OpenAPIDocument()) {
		t.Error("GET /openapi.yaml differs from OpenAPIDocument()")
	}
}

// TestOpenAPIScopes checks that the scopes the document lets tokens carry
// are the ones Arena knows.
func TestOpenAPIScopes(t *testing.T) {
	doc := loadOurs(t)
	for _, schema := range []string{"Token", "TokenCreate"} {
		t.Run(schema, func(t *testing.T) {
			var got []string
			for _, v := range doc.Components.Schemas[schema].Value.Properties["scopes"].Value.Items.Value.Enum {
				got = append(got, v.(string))
			}
			want := slices.Clone(arena.AllScopes)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("the document lists %v, Arena knows %v", got, want)
			}
		})
	}
}
