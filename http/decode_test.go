package http_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

// bodyOperations returns the document's operations that take a JSON body,
// with their paths' parameters filled in.
func bodyOperations(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for key, op := range operations(loadOurs(tb)) {
		if op.op.RequestBody == nil {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		path = strings.NewReplacer("{org}", testOrg, "{name}", "app", "{id}", "s-1").Replace(path)
		out[key] = method + " " + path
	}
	return out
}

// TestBodyMediaType checks that every operation with a JSON body refuses,
// with 415 and without reading it, a body that says it is something else,
// and takes one that says it is JSON or says nothing.
func TestBodyMediaType(t *testing.T) {
	tests := []struct {
		name        string
		contentType []string
		refused     bool
	}{
		{"none", nil, false},
		{"JSON", []string{"application/json"}, false},
		{"JSON in UTF-8", []string{"application/json; charset=utf-8"}, false},
		{"JSON in UTF-8, in capitals", []string{"Application/JSON; Charset=UTF-8"}, false},
		{"a structured JSON type", []string{"application/merge-patch+json"}, false},
		{"a form, as curl -d sends", []string{"application/x-www-form-urlencoded"}, true},
		{"text", []string{"text/plain"}, true},
		{"JSON in another charset", []string{"application/json; charset=latin1"}, true},
		{"not a media type", []string{"json"}, true},
		{"given twice", []string{"application/json", "application/json"}, true},
		{"multipart", []string{"multipart/form-data; boundary=x"}, true},
	}
	ops := bodyOperations(t)
	if len(ops) < 10 {
		t.Fatalf("only %d operations with a body in the document", len(ops))
	}
	api := newTestAPI(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for key, target := range ops {
				method, path, _ := strings.Cut(target, " ")
				req := api.request(t, method, path, `{"x":1}`)
				req.Header.Set("Authorization", "Bearer "+adminSecret)
				req.Header.Del("Content-Type")
				for _, ct := range tt.contentType {
					req.Header.Add("Content-Type", ct)
				}
				r := api.send(t, req)
				if !tt.refused {
					if r.status == http.StatusUnsupportedMediaType {
						t.Errorf("%s: 415 for a body of %q: %s", key, tt.contentType, r.body)
					}
					continue
				}
				e := r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
				if !strings.Contains(e.Message, "JSON") {
					t.Errorf("%s: message %q does not say what to send", key, e.Message)
				}
			}
		})
	}
}

// TestBodyRepeatedKey checks that a key given twice in any object of a
// body is refused by every operation with a JSON body, naming the key,
// rather than one of the values being taken silently.
func TestBodyRepeatedKey(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"at the top", `{"name":"a","name":"b"}`, "name"},
		{"nested", `{"registry":{"username":"u","username":"v"}}`, "registry.username"},
		{"in an array", `{"ports":[{"protocol":"tcp"},{"protocol":"udp","protocol":"tcp"}]}`, "ports[1].protocol"},
	}
	api := newTestAPI(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for key, target := range bodyOperations(t) {
				method, path, _ := strings.Cut(target, " ")
				req := api.request(t, method, path, tt.body)
				req.Header.Set("Authorization", "Bearer "+adminSecret)
				e := api.send(t, req).wantError(t, http.StatusUnprocessableEntity, arena.EINVALID)
				if got := e.fields(); !slices.Equal(got, []string{tt.field}) {
					t.Errorf("%s: violations %+v, want one of %s", key, e.Violations, tt.field)
				}
			}
		})
	}
}

// TestBodyFieldCase checks that the bodies decoded into structs, as the
// admin API's and the Gameye API's applications are, take field names only
// as the document spells them, like SessionRun: encoding/json alone would
// take "NAME" for name, and of {"name":…,"NAME":…} the last.
func TestBodyFieldCase(t *testing.T) {
	app := func(fields string) string {
		return `{"name":"g","repository":"studio/g","tags":[{"name":"v1","priority":1}],"resources":{"milliCpu":1,"memoryMb":1}` + fields + `}`
	}
	appsPath := "/admin/v1/orgs/" + testOrg + "/applications"
	tests := []struct {
		name, path, body string
		// field is the violation's, "" for a body that is taken.
		field string
	}{
		{"as spelled", appsPath, app(""), ""},
		{"env keys that differ in case", appsPath, app(`,"env":{"A":"1","a":"2"}`), ""},
		{"a field in capitals", appsPath, app(`,"TagKeep":1`), "TagKeep"},
		{"a field twice in two cases", appsPath, app(`,"NAME":"h"`), "NAME"},
		{"a nested field", appsPath, strings.Replace(app(""), `"milliCpu":1`, `"milliCPU":1`, 1), "resources.milliCPU"},
		{"a field of an array's item", appsPath, strings.Replace(app(""), `"priority":1`, `"Priority":1`, 1), "tags[0].Priority"},
		{"the Gameye API", "/application", strings.Replace(duelApp, `"repository"`, `"Repository"`, 1), "Repository"},
		{"the Gameye API, nested", "/application", strings.Replace(duelApp, `"requested"`, `"REQUESTED"`, 1), "ports[0].REQUESTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newTestAPI(t, nil)
			r := api.as(t, adminSecret, http.MethodPost, tt.path, tt.body)
			if tt.field == "" {
				if r.status != 201 {
					t.Fatalf("status = %d, want 201: %s", r.status, r.body)
				}
				return
			}
			e := r.wantError(t, http.StatusUnprocessableEntity, arena.EINVALID)
			if got := e.fields(); !slices.Equal(got, []string{tt.field}) {
				t.Errorf("violations = %+v, want one of %s", e.Violations, tt.field)
			}
		})
	}
}
