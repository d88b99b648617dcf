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

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// revision is one revision of the Gameye Session API document that Arena
// serves. Both are copies in testdata/contract (see its NOTICE).
type revision struct {
	// name is how x-arena-contract and x-arena-differences call it.
	name string
	file string
	// names says that our schemas carry the revision's names: those of the
	// revision clients are generated from today.
	names bool
}

var revisions = []revision{
	{name: "current", file: "gameye-api-current.yaml", names: true},
	{name: "1.2.1", file: "gameye-session-api-1.2.1.yaml"},
}

// Kinds of x-arena-differences entries.
const (
	notYetServed   = "not yet served"
	addedResponse  = "added response"
	addedProperty  = "added property"
	addedParameter = "added parameter"
	addedSecurity  = "added security"
	widenedType    = "widened type"
	behaviour      = "behaviour"
)

// difference is one entry of the document's x-arena-differences.
type difference struct {
	// Revisions names the revisions the entry is a difference from; empty
	// for all of them.
	Revisions   []string `json:"revisions"`
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

func (d difference) appliesTo(rev string) bool {
	return len(d.Revisions) == 0 || slices.Contains(d.Revisions, rev)
}

func loadContract(tb testing.TB, rev revision) *openapi3.T {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "contract", rev.file))
	if err != nil {
		tb.Fatal(err)
	}
	// The current revision gives some schemas OpenAPI 3.1's "examples" map,
	// which a 3.0 loader refuses; examples do not matter to the comparison.
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		tb.Fatal(err)
	}
	if data, err = json.Marshal(dropSchemaExamples(raw)); err != nil {
		tb.Fatal(err)
	}
	// Loaded, not validated: the published documents fail validation on
	// details (examples that do not match their schemas, a response of /logs
	// without a description) that do not affect the comparison.
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		tb.Fatalf("loading the %s contract: %v", rev.name, err)
	}
	return doc
}

// dropSchemaExamples returns v, a decoded YAML document, without the
// "examples" maps of its schemas and with every key a string (YAML reads
// the status 201 as a number), as JSON has them.
func dropSchemaExamples(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = dropSchemaExamples(e)
		}
		if _, isMap := out["examples"].(map[string]any); isMap {
			if _, isSchema := out["type"]; isSchema {
				delete(out, "examples")
			}
		}
		return out
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return dropSchemaExamples(m)
	case []any:
		for i, e := range x {
			x[i] = dropSchemaExamples(e)
		}
	}
	return v
}

// contracts loads every revision, in the order of revisions.
func contracts(tb testing.TB) []*openapi3.T {
	tb.Helper()
	out := make([]*openapi3.T, len(revisions))
	for i, rev := range revisions {
		out[i] = loadContract(tb, rev)
	}
	return out
}

// TestOpenAPIMatchesContract checks that our document serves each revision
// of the contract: every operation of it is served or listed as not yet
// served, and a served one keeps the revision's parameters, security,
// statuses and schemas. What ours adds or changes must be recorded.
func TestOpenAPIMatchesContract(t *testing.T) {
	docs := contracts(t)
	for i, rev := range revisions {
		t.Run(rev.name, func(t *testing.T) {
			if problems := compareDocuments(rev, docs[i], docs, loadOurs(t)); len(problems) > 0 {
				t.Errorf("our OpenAPI document departs from the %s contract:\n%s", rev.name, strings.Join(problems, "\n"))
			}
		})
	}
}

// TestCompareDocumentsCatches checks that the comparison notices each kind of
// departure, so that its silence above means something.
func TestCompareDocumentsCatches(t *testing.T) {
	addDifference := func(d *openapi3.T, entry map[string]any) {
		d.Extensions["x-arena-differences"] = append(d.Extensions["x-arena-differences"].([]any), entry)
	}
	tests := []struct {
		name     string
		revision string
		mutate   func(ours *openapi3.T)
		want     string
	}{
		{"a dropped operation", "current", func(d *openapi3.T) { d.Paths.Value("/session/{id}").Delete = nil }, "DELETE /session/{id}: not served"},
		{"a dropped operation of the current revision", "current", func(d *openapi3.T) { d.Paths.Delete("/region") }, "GET /region: not served"},
		{"a dropped status", "current", func(d *openapi3.T) { d.Paths.Value("/session").Post.Responses.Delete("409") }, "POST /session: status 409"},
		{"an unrecorded status", "current", func(d *openapi3.T) {
			d.Paths.Value("/session").Post.Responses.Set("418", d.Paths.Value("/session").Post.Responses.Value("409"))
		}, "POST /session: status 418"},
		{"a status of the current revision only, unrecorded for 1.2.1", "1.2.1", func(d *openapi3.T) {
			for _, x := range d.Extensions["x-arena-differences"].([]any) {
				if e := x.(map[string]any); e["path"] == "/session" && e["method"] == "post" && e["difference"] == addedResponse {
					e["revisions"] = []any{"current"}
				}
			}
		}, "POST /session: status 403"},
		{"a dropped property", "current", func(d *openapi3.T) {
			delete(d.Components.Schemas["SessionListEntry"].Value.Properties, "playerCount")
		}, "SessionListEntry.playerCount: missing"},
		{"a changed type", "current", func(d *openapi3.T) {
			d.Components.Schemas["DescribedSession"].Value.Properties["created"].Value.Type = &openapi3.Types{"string"}
		}, "DescribedSession.created: type"},
		{"an unrecorded property", "current", func(d *openapi3.T) {
			d.Components.Schemas["SessionRunOkBody"].Value.Properties["region"] = openapi3.NewStringSchema().NewRef()
		}, "SessionRunOkBody.region: not in the contract"},
		{"a stale added property", "current", func(d *openapi3.T) {
			addDifference(d, map[string]any{"schema": "SessionRunOkBody", "property": "host", "difference": addedProperty, "description": "x"})
		}, "SessionRunOkBody.host: listed as"},
		{"a widened type that drops the contract's", "current", func(d *openapi3.T) {
			d.Components.Schemas["SessionRunBody"].Value.Properties["ttl"].Value.OneOf = openapi3.SchemaRefs{openapi3.NewIntegerSchema().NewRef()}
		}, "SessionRunBody.ttl: widened"},
		{"an unrecorded widened type", "current", func(d *openapi3.T) {
			diffs := d.Extensions["x-arena-differences"].([]any)
			d.Extensions["x-arena-differences"] = slices.DeleteFunc(slices.Clone(diffs), func(x any) bool {
				return x.(map[string]any)["difference"] == widenedType
			})
		}, "SessionRunBody.ttl: type"},
		{"a schema renamed from the current revision's", "current", func(d *openapi3.T) {
			d.Paths.Value("/session").Post.RequestBody.Value.Content["application/json"].Schema.Ref = "#/components/schemas/SessionRun"
			d.Components.Schemas["SessionRun"] = d.Components.Schemas["SessionRunBody"]
		}, "the contract uses schema SessionRunBody"},
		{"a relaxed requirement", "current", func(d *openapi3.T) {
			d.Components.Schemas["SessionRunBody"].Value.Required = []string{"image"}
		}, "SessionRunBody.location: required"},
		{"a dropped parameter", "current", func(d *openapi3.T) {
			op := d.Paths.Value("/session").Get
			op.Parameters = slices.DeleteFunc(op.Parameters, func(p *openapi3.ParameterRef) bool { return p.Value.Name == "playerCount" })
		}, "parameter query playerCount: missing"},
		{"an unrecorded parameter", "current", func(d *openapi3.T) {
			op := d.Paths.Value("/session").Post
			op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: openapi3.NewQueryParameter("dryRun").WithSchema(openapi3.NewBoolSchema())})
		}, "POST /session: parameter query dryRun is not in the contract"},
		{"another scope", "current", func(d *openapi3.T) {
			d.Paths.Value("/session").Post.Security = &openapi3.SecurityRequirements{{"api-token": {"session:read"}}}
		}, "POST /session: scopes [session:read], the contract [session:start]"},
		{"an unrecorded token requirement", "current", func(d *openapi3.T) {
			diffs := d.Extensions["x-arena-differences"].([]any)
			d.Extensions["x-arena-differences"] = slices.DeleteFunc(slices.Clone(diffs), func(x any) bool {
				e := x.(map[string]any)
				return e["difference"] == addedSecurity && e["path"] == "/region"
			})
		}, "GET /region: requires a token true, the contract false"},
		{"an unmarked addition", "current", func(d *openapi3.T) { delete(d.Paths.Value("/healthz").Get.Extensions, "x-arena-addition") }, "GET /healthz: not in the contract"},
		{"a stale difference", "current", func(d *openapi3.T) {
			addDifference(d, map[string]any{"path": "/tag/{region}/{image}/{version}", "method": "get", "difference": notYetServed})
		}, "GET /tag/{region}/{image}/{version}: listed as not yet served, but served"},
		{"an operation neither served nor listed", "1.2.1", func(d *openapi3.T) {
			d.Paths.Delete("/tag/{region}/{image}/{version}")
		}, "GET /tag/{region}/{image}/{version}: not served and not listed"},
		{"a difference naming no revision there is", "current", func(d *openapi3.T) {
			addDifference(d, map[string]any{"revisions": []any{"1.3"}, "path": "/session", "method": "post", "difference": behaviour, "description": "x"})
		}, "names an unknown revision"},
	}
	docs := contracts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(revisions, func(r revision) bool { return r.name == tt.revision })
			ours := loadOurs(t)
			tt.mutate(ours)
			problems := compareDocuments(revisions[i], docs[i], docs, ours)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentions %q; got:\n%s", tt.want, strings.Join(problems, "\n"))
			}
		})
	}
}

// contractEntry is one entry of x-arena-contract.
type contractEntry struct {
	Revision string `json:"revision"`
	Title    string `json:"title"`
	Version  string `json:"version"`
	Source   string `json:"source"`
}

// compareDocuments lists every way in which ours fails to serve contract,
// the revision rev; all holds every revision, for the operations that one
// has and another lacks.
func compareDocuments(rev revision, contract *openapi3.T, all []*openapi3.T, ours *openapi3.T) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	every, err := differences(ours)
	if err != nil {
		return []string{err.Error()}
	}
	var diffs []difference
	for _, d := range every {
		if d.appliesTo(rev.name) {
			diffs = append(diffs, d)
		}
	}
	var entries []contractEntry
	if err := extension(ours.Extensions, "x-arena-contract", &entries); err != nil {
		report("%v", err)
	}
	i := slices.IndexFunc(entries, func(e contractEntry) bool { return e.Revision == rev.name })
	if i < 0 || entries[i].Title != contract.Info.Title || entries[i].Version != contract.Info.Version {
		report("x-arena-contract has no entry of revision %q titled %q version %q", rev.name, contract.Info.Title, contract.Info.Version)
	}

	c := &schemaComparison{report: report, names: rev.names, added: map[string]bool{}, widened: map[string]bool{}, used: map[string]bool{}, seen: map[string]bool{}}
	for _, d := range diffs {
		switch d.Difference {
		case addedProperty:
			c.added[d.Schema+"."+d.Property] = true
		case widenedType:
			c.widened[d.Schema+"."+d.Property] = true
		}
	}
	served, inContract := operations(ours), operations(contract)
	for _, key := range slices.Sorted(maps.Keys(inContract)) {
		cop, op := inContract[key], served[key]
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
		inOther := slices.ContainsFunc(all, func(doc *openapi3.T) bool { return operations(doc)[key] != nil })
		switch {
		case !inOther && !marked:
			report("%s: not in the contract and not marked x-arena-addition: true", key)
		case inContract[key] != nil && marked:
			report("%s: marked x-arena-addition but in the contract", key)
		}
	}

	for _, d := range diffs {
		switch d.Difference {
		case addedParameter:
			op, cop := served[d.operation()], inContract[d.operation()]
			if op == nil || op.params.GetByInAndName("query", d.Parameter) == nil || (cop != nil && cop.params.GetByInAndName("query", d.Parameter) != nil) {
				report("%s: parameter %s listed as %q, but not served or in the contract", d.operation(), d.Parameter, addedParameter)
			}
		case addedResponse, behaviour:
			if served[d.operation()] == nil {
				report("%s: listed as %q, but not served", d.operation(), d.Difference)
			}
		case addedSecurity:
			op, cop := served[d.operation()], inContract[d.operation()]
			if op == nil || cop == nil || secured(contract, cop.op) || !secured(ours, op.op) {
				report("%s: listed as %q, but not served, or secured in the contract, or not in ours", d.operation(), addedSecurity)
			}
		case addedProperty, widenedType:
			if key := d.Schema + "." + d.Property; !c.used[key] {
				report("%s: listed as %q, but the comparison met no such difference", key, d.Difference)
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
	recordedSecurity := slices.ContainsFunc(diffs, func(d difference) bool { return d.Difference == addedSecurity && d.operation() == key })
	if cs, s := secured(contract, cop.op), secured(ours, op.op); cs != s && !(recordedSecurity && !cs && s) {
		c.report("%s: requires a token %v, the contract %v", key, s, cs)
	}
	if want := scopes(cop.op); len(want) > 0 && !slices.Equal(scopes(op.op), want) {
		c.report("%s: scopes %v, the contract %v", key, scopes(op.op), want)
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
		_, inContract := cr[status]
		if recorded := slices.Contains(added, status); inContract == recorded {
			c.report("%s: status %s is in the contract %v and recorded as %q %v", key, status, inContract, addedResponse, recorded)
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

// scopes returns the sorted scopes an operation's own security names.
func scopes(op *openapi3.Operation) []string {
	var out []string
	if op.Security != nil {
		for _, req := range *op.Security {
			for _, s := range req {
				out = append(out, s...)
			}
		}
	}
	slices.Sort(out)
	return out
}

// schemaComparison compares the contract's schemas with ours, each named
// schema once.
type schemaComparison struct {
	report func(format string, args ...any)
	// names requires our schemas to have the contract's names.
	names bool
	// added and widened hold the "Schema.property" entries recorded as
	// added properties and widened types, by our schemas' names; used
	// those the comparison met.
	added, widened, used map[string]bool
	seen                 map[string]bool
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

const schemaPrefix = "#/components/schemas/"

// compare checks that ours has every property of contract with the same
// type, requires what contract requires, and adds only recorded
// properties. Problems name our schemas.
func (c *schemaComparison) compare(where string, contract, ours *openapi3.SchemaRef) {
	if contract == nil {
		return
	}
	if ours == nil {
		c.report("%s: schema missing", where)
		return
	}
	if contract.Ref != "" {
		name := strings.TrimPrefix(contract.Ref, schemaPrefix)
		if c.names && ours.Ref != contract.Ref {
			c.report("%s: the contract uses schema %s, ours %q", where, name, ours.Ref)
		}
		if c.seen[name] {
			return
		}
		c.seen[name] = true
		where = name
		if ours.Ref != "" {
			where = strings.TrimPrefix(ours.Ref, schemaPrefix)
		}
	}
	cs, s := contract.Value, ours.Value
	if c.widened[where] {
		// Ours takes the contract's type among others.
		if !slices.ContainsFunc(s.OneOf, func(alt *openapi3.SchemaRef) bool { return slices.Equal(alt.Value.Type.Slice(), cs.Type.Slice()) }) {
			c.report("%s: widened, but none of its alternatives has the contract's type %v", where, cs.Type.Slice())
		}
		c.used[where] = true
		return
	}
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
		key := where + "." + name
		switch {
		case cs.Properties[name] != nil:
		case c.added[key]:
			c.used[key] = true
		default:
			c.report("%s: not in the contract and not recorded as %q", key, addedProperty)
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
		operation := d.Path != "" && d.Method != "" && d.Schema == ""
		switch d.Difference {
		case notYetServed, behaviour, addedSecurity:
			ok = ok && operation && len(d.Statuses) == 0
		case addedResponse:
			ok = ok && operation && len(d.Statuses) > 0
		case addedProperty, widenedType:
			ok = ok && d.Schema != "" && d.Property != "" && d.Path == ""
		case addedParameter:
			ok = ok && operation && d.Parameter != ""
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("x-arena-differences[%d] is malformed: %+v", i, d)
		}
		for _, r := range d.Revisions {
			if !slices.ContainsFunc(revisions, func(rev revision) bool { return rev.name == r }) {
				return nil, fmt.Errorf("x-arena-differences[%d] names an unknown revision %q", i, r)
			}
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
