package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/http/apitest"
)

// contractPath is where the Gameye Session API document lives, next to the
// repository rather than inside it.
const contractPath = "shared/reference/gameye-session-api-1.2.1.yaml"

// Kinds of x-arena-differences entries.
const (
	notYetServed   = "not yet served"
	addedResponse  = "added response"
	addedProperty  = "added property"
	addedParameter = "added parameter"
	behaviour      = "behaviour"
)

// difference is one entry of the document's x-arena-differences.
type difference struct {
	Path        string   `json:"path"`
	Method      string   `json:"method"`
	Schema      string   `json:"schema"`
	Property    string   `json:"property"`
	Parameter   string   `json:"parameter"`
	Statuses    []string `json:"statuses"`
	Difference  string   `json:"difference"`
	Description string   `json:"description"`
}

func (d difference) operation() string { return strings.ToUpper(d.Method) + " " + d.Path }

// readContract finds the contract by walking up from the working directory.
// It fails rather than skips: the comparison is the point of the test.
func readContract(tb testing.TB) []byte {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, contractPath))
		if err == nil {
			return data
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("%s is in no parent directory of the working directory; the API comparison needs it", contractPath)
		}
		dir = parent
	}
}

func loadContract(tb testing.TB) *openapi3.T {
	tb.Helper()
	// Loaded, not validated: the published contract fails validation on
	// details (examples that do not match their schemas, a response of /logs
	// without a description) that do not affect the comparison.
	doc, err := openapi3.NewLoader().LoadFromData(readContract(tb))
	if err != nil {
		tb.Fatalf("loading the contract: %v", err)
	}
	return doc
}

// loadOurs loads a fresh copy of our document, which the caller may modify.
func loadOurs(tb testing.TB) *openapi3.T {
	tb.Helper()
	return apitest.NewChecker(tb).Document()
}

// TestOpenAPIMatchesContract checks that our document serves the contract:
// every operation of the contract is served or listed as not yet served, and
// a served one keeps the contract's parameters, statuses and schemas. What
// ours adds (statuses, properties, operations) must be recorded.
func TestOpenAPIMatchesContract(t *testing.T) {
	if problems := compareDocuments(loadContract(t), loadOurs(t)); len(problems) > 0 {
		t.Errorf("our OpenAPI document departs from the contract:\n%s", strings.Join(problems, "\n"))
	}
}

// TestCompareDocumentsCatches checks that the comparison notices each kind of
// departure, so that its silence above means something.
func TestCompareDocumentsCatches(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ours *openapi3.T)
		want   string
	}{
		{"a dropped operation", func(d *openapi3.T) { d.Paths.Value("/session/{id}").Delete = nil }, "DELETE /session/{id}: not served"},
		{"a dropped status", func(d *openapi3.T) { d.Paths.Value("/session").Post.Responses.Delete("409") }, "POST /session: status 409"},
		{"an unrecorded status", func(d *openapi3.T) {
			d.Paths.Value("/session").Post.Responses.Set("418", d.Paths.Value("/session").Post.Responses.Value("409"))
		}, "POST /session: status 418"},
		{"a dropped property", func(d *openapi3.T) {
			delete(d.Components.Schemas["SessionListEntry"].Value.Properties, "playerCount")
		}, "SessionListEntry.playerCount: missing"},
		{"a changed type", func(d *openapi3.T) {
			d.Components.Schemas["DescribedSession"].Value.Properties["created"].Value.Type = &openapi3.Types{"string"}
		}, "DescribedSession.created: type"},
		{"an unrecorded property", func(d *openapi3.T) {
			d.Components.Schemas["SessionRunOk"].Value.Properties["region"] = openapi3.NewStringSchema().NewRef()
		}, "SessionRunOk.region: not in the contract"},
		{"a relaxed requirement", func(d *openapi3.T) {
			d.Components.Schemas["SessionRun"].Value.Required = []string{"image"}
		}, "SessionRun.location: required"},
		{"a dropped parameter", func(d *openapi3.T) {
			op := d.Paths.Value("/session").Get
			op.Parameters = slices.DeleteFunc(op.Parameters, func(p *openapi3.ParameterRef) bool { return p.Value.Name == "playerCount" })
		}, "parameter query playerCount: missing"},
		{"an unrecorded parameter", func(d *openapi3.T) {
			op := d.Paths.Value("/session").Post
			op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: openapi3.NewQueryParameter("dryRun").WithSchema(openapi3.NewBoolSchema())})
		}, "POST /session: parameter query dryRun is not in the contract"},
		{"an unmarked addition", func(d *openapi3.T) { delete(d.Paths.Value("/healthz").Get.Extensions, "x-arena-addition") }, "GET /healthz: not in the contract"},
		{"a stale difference", func(d *openapi3.T) {
			d.Extensions["x-arena-differences"] = append(d.Extensions["x-arena-differences"].([]any),
				map[string]any{"path": "/tag/{region}/{image}/{version}", "method": "get", "difference": "not yet served"})
		}, "GET /tag/{region}/{image}/{version}: listed as not yet served, but served"},
		{"an operation neither served nor listed", func(d *openapi3.T) {
			d.Paths.Delete("/tag/{region}/{image}/{version}")
		}, "GET /tag/{region}/{image}/{version}: not served and not listed"},
	}
	contract := loadContract(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ours := loadOurs(t)
			tt.mutate(ours)
			problems := compareDocuments(contract, ours)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentions %q; got:\n%s", tt.want, strings.Join(problems, "\n"))
			}
		})
	}
}

// compareDocuments lists every way in which ours fails to serve contract.
func compareDocuments(contract, ours *openapi3.T) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	diffs, err := differences(ours)
	if err != nil {
		return []string{err.Error()}
	}
	var want struct{ Title, Version string }
	if err := extension(ours.Extensions, "x-arena-contract", &want); err != nil ||
		want.Title != contract.Info.Title || want.Version != contract.Info.Version {
		report("x-arena-contract names %q %q (%v), the contract is %q %q",
			want.Title, want.Version, err, contract.Info.Title, contract.Info.Version)
	}

	c := &schemaComparison{report: report, added: map[string]bool{}, seen: map[string]bool{}}
	for _, d := range diffs {
		if d.Difference == addedProperty {
			c.added[d.Schema+"."+d.Property] = true
		}
	}
	served := operations(ours)
	for _, key := range slices.Sorted(maps.Keys(operations(contract))) {
		cop, op := operations(contract)[key], served[key]
		listed := slices.ContainsFunc(diffs, func(d difference) bool { return d.Difference == notYetServed && d.operation() == key })
		switch {
		case op == nil && !listed:
			report("%s: not served and not listed as %q", key, notYetServed)
			continue
		case op == nil:
			continue
		case listed:
			report("%s: listed as %s, but served", key, notYetServed)
		}
		compareOperation(c, key, cop, op, contract, ours, diffs)
	}

	for _, key := range slices.Sorted(maps.Keys(served)) {
		marked := served[key].op.Extensions["x-arena-addition"] == true
		_, inContract := operations(contract)[key]
		switch {
		case !inContract && !marked:
			report("%s: not in the contract and not marked x-arena-addition: true", key)
		case inContract && marked:
			report("%s: marked x-arena-addition but in the contract", key)
		}
	}

	for _, d := range diffs {
		switch d.Difference {
		case addedParameter:
			if op := served[d.operation()]; op == nil || op.params.GetByInAndName("query", d.Parameter) == nil {
				report("%s: parameter %s listed as %q, but not served", d.operation(), d.Parameter, addedParameter)
			}
		case addedResponse, behaviour:
			if served[d.operation()] == nil {
				report("%s: listed as %q, but not served", d.operation(), d.Difference)
			}
		case addedProperty:
			cs, s := contract.Components.Schemas[d.Schema], ours.Components.Schemas[d.Schema]
			if s == nil || s.Value.Properties[d.Property] == nil || (cs != nil && cs.Value.Properties[d.Property] != nil) {
				report("%s.%s: listed as %q, but ours lacks it or the contract has it", d.Schema, d.Property, addedProperty)
			}
		}
	}
	return problems
}

// operation is an operation with the parameters of its path.
type operation struct {
	op     *openapi3.Operation
	params openapi3.Parameters
}

// operations returns a document's operations keyed "METHOD /path".
func operations(doc *openapi3.T) map[string]*operation {
	out := map[string]*operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := slices.Clone(item.Parameters)
			params = append(params, op.Parameters...)
			out[method+" "+path] = &operation{op: op, params: params}
		}
	}
	return out
}

func compareOperation(c *schemaComparison, key string, cop, op *operation, contract, ours *openapi3.T, diffs []difference) {
	if secured(contract, cop.op) != secured(ours, op.op) {
		c.report("%s: requires a token %v, the contract %v", key, secured(ours, op.op), secured(contract, cop.op))
	}

	for _, cp := range cop.params {
		name := fmt.Sprintf("%s: parameter %s %s", key, cp.Value.In, cp.Value.Name)
		p := op.params.GetByInAndName(cp.Value.In, cp.Value.Name)
		if p == nil {
			c.report("%s: missing", name)
			continue
		}
		csm, _ := cp.Value.SerializationMethod()
		sm, _ := p.SerializationMethod()
		if *csm != *sm || cp.Value.Required != p.Required {
			c.report("%s: serialized %+v required %v, the contract %+v required %v", name, *sm, p.Required, *csm, cp.Value.Required)
		}
		c.compare(name, cp.Value.Schema, p.Schema)
	}
	for _, p := range op.params {
		recorded := slices.ContainsFunc(diffs, func(d difference) bool {
			return d.Difference == addedParameter && d.operation() == key && d.Parameter == p.Value.Name
		})
		if cop.params.GetByInAndName(p.Value.In, p.Value.Name) == nil && !recorded {
			c.report("%s: parameter %s %s is not in the contract", key, p.Value.In, p.Value.Name)
		}
	}

	if cb := cop.op.RequestBody; cb != nil {
		b := op.op.RequestBody
		if b == nil {
			c.report("%s: request body missing", key)
		} else {
			c.compareContent(key+": request body", cb.Value.Content, b.Value.Content)
		}
	}

	var added []string
	for _, d := range diffs {
		if d.Difference == addedResponse && d.operation() == key {
			added = append(added, d.Statuses...)
		}
	}
	cr, r := cop.op.Responses.Map(), op.op.Responses.Map()
	for _, status := range slices.Sorted(maps.Keys(cr)) {
		if r[status] == nil {
			c.report("%s: status %s of the contract is not answered", key, status)
			continue
		}
		c.compareContent(fmt.Sprintf("%s: status %s", key, status), cr[status].Value.Content, r[status].Value.Content)
	}
	for _, status := range slices.Sorted(maps.Keys(r)) {
		if _, inContract := cr[status]; inContract == slices.Contains(added, status) {
			c.report("%s: status %s is in the contract %v and recorded as %q %v", key, status, inContract, addedResponse, !inContract)
		}
	}
	for _, status := range added {
		if r[status] == nil {
			c.report("%s: status %s is recorded as %q but not answered", key, status, addedResponse)
		}
	}
}

func secured(doc *openapi3.T, op *openapi3.Operation) bool {
	if op.Security != nil {
		return len(*op.Security) > 0
	}
	return len(doc.Security) > 0
}

// schemaComparison compares the contract's schemas with ours, each named
// schema once.
type schemaComparison struct {
	report func(format string, args ...any)
	// added holds the "Schema.property" entries recorded as added properties.
	added map[string]bool
	seen  map[string]bool
}

func (c *schemaComparison) compareContent(where string, contract, ours openapi3.Content) {
	for _, mime := range slices.Sorted(maps.Keys(contract)) {
		if ours[mime] == nil {
			c.report("%s: content %s missing", where, mime)
			continue
		}
		c.compare(where, contract[mime].Schema, ours[mime].Schema)
	}
}

// compare checks that ours has every property of contract with the same
// type, requires what contract requires, and adds only recorded properties.
func (c *schemaComparison) compare(where string, contract, ours *openapi3.SchemaRef) {
	if contract == nil {
		return
	}
	if ours == nil {
		c.report("%s: schema missing", where)
		return
	}
	if contract.Ref != "" {
		name := strings.TrimPrefix(contract.Ref, "#/components/schemas/")
		if ours.Ref != contract.Ref {
			c.report("%s: the contract uses schema %s, ours %q", where, name, ours.Ref)
		}
		if c.seen[name] {
			return
		}
		c.seen[name] = true
		where = name
	}
	cs, s := contract.Value, ours.Value
	if ct, t := cs.Type.Slice(), s.Type.Slice(); !slices.Equal(ct, t) {
		c.report("%s: type %v, the contract %v", where, t, ct)
	}
	if len(cs.Enum) > 0 && !sameValues(cs.Enum, s.Enum) {
		c.report("%s: enum %v, the contract %v", where, s.Enum, cs.Enum)
	}
	for _, name := range slices.Sorted(maps.Keys(cs.Properties)) {
		if s.Properties[name] == nil {
			c.report("%s.%s: missing", where, name)
			continue
		}
		c.compare(where+"."+name, cs.Properties[name], s.Properties[name])
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		if cs.Properties[name] == nil && !c.added[where+"."+name] {
			c.report("%s.%s: not in the contract and not recorded as %q", where, name, addedProperty)
		}
	}
	for _, name := range cs.Required {
		if !slices.Contains(s.Required, name) {
			c.report("%s.%s: required by the contract, optional in ours", where, name)
		}
	}
	if cs.Items != nil {
		c.compare(where+"[]", cs.Items, s.Items)
	}
	cAdd, add := cs.AdditionalProperties, s.AdditionalProperties
	if cAdd.Has != nil && !*cAdd.Has && (add.Has == nil || *add.Has) {
		c.report("%s: the contract forbids additional properties, ours allows them", where)
	}
	if cAdd.Schema != nil {
		c.compare(where+"{}", cAdd.Schema, add.Schema)
	}
}

func sameValues(a, b []any) bool {
	key := func(v []any) []string {
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// differences decodes and checks x-arena-differences.
func differences(doc *openapi3.T) ([]difference, error) {
	var diffs []difference
	if err := extension(doc.Extensions, "x-arena-differences", &diffs); err != nil {
		return nil, err
	}
	for i, d := range diffs {
		ok := d.Difference != "" && d.Description != "" || d.Difference == notYetServed
		switch d.Difference {
		case notYetServed, behaviour:
			ok = ok && d.Path != "" && d.Method != "" && d.Schema == "" && len(d.Statuses) == 0
		case addedResponse:
			ok = ok && d.Path != "" && d.Method != "" && len(d.Statuses) > 0
		case addedProperty:
			ok = ok && d.Schema != "" && d.Property != "" && d.Path == ""
		case addedParameter:
			ok = ok && d.Path != "" && d.Method != "" && d.Parameter != "" && d.Schema == ""
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("x-arena-differences[%d] is malformed: %+v", i, d)
		}
	}
	return diffs, nil
}

// extension decodes a document extension strictly.
func extension(exts map[string]any, name string, v any) error {
	raw, ok := exts[name]
	if !ok {
		return fmt.Errorf("the document has no %s", name)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// TestOpenAPILimits checks that the limits the document states for SessionRun
// are the ones Validate applies.
func TestOpenAPILimits(t *testing.T) {
	run := loadOurs(t).Components.Schemas["SessionRun"].Value
	prop := func(name string) *openapi3.Schema { return run.Properties[name].Value }
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
		{"ttl maximum", f(prop("ttl").Max), int64(arena.MaxTTL / time.Second)},
		{"ttl minimum", f(prop("ttl").Min), 0},
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
			want := 200
			if op.op.Security == nil {
				want = 401 // every operation without its own security needs a token
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
