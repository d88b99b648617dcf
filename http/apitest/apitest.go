// Package apitest checks HTTP responses against Arena's OpenAPI document.
// Every test that talks to the API should pass its responses through a
// Checker: the document then stays true because the tests prove it.
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	arenahttp "github.com/arena-hq/arena/http"
)

// Names of the document's responses for requests that match no operation.
const (
	routeNotFound    = "RouteNotFound"
	methodNotAllowed = "MethodNotAllowed"
)

// Checker validates responses against the OpenAPI document. It is safe for
// concurrent use by parallel tests.
type Checker struct {
	doc *openapi3.T
}

// NewChecker loads and validates the document the server embeds, failing tb
// when the document itself is broken.
func NewChecker(tb testing.TB) *Checker {
	tb.Helper()
	c, err := Load(arenahttp.OpenAPIDocument())
	if err != nil {
		tb.Fatalf("apitest: %v", err)
	}
	return c
}

// Load returns a Checker for the OpenAPI document data. Besides the
// operations it needs components.responses RouteNotFound and
// MethodNotAllowed: what any request that matches no operation is answered with.
func Load(data []byte) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	for _, name := range []string{routeNotFound, methodNotAllowed} {
		if doc.Components == nil || doc.Components.Responses[name] == nil {
			return nil, fmt.Errorf("the OpenAPI document has no components.responses.%s", name)
		}
	}
	return &Checker{doc: doc}, nil
}

// Document returns the loaded document. Callers must not modify it.
func (c *Checker) Document() *openapi3.T { return c.doc }

// CheckResponse reads and closes resp's body, checks the response against the
// request that resp.Request records, and returns the body.
func (c *Checker) CheckResponse(tb testing.TB, resp *http.Response) []byte {
	tb.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatalf("apitest: reading the response body: %v", err)
	}
	c.Check(tb, resp.Request, resp.StatusCode, resp.Header, body)
	return body
}

// Check reports through tb.Errorf every way in which a response to req
// departs from the document: a status the operation does not list (420
// included: kin-openapi looks it up like any other code), a missing required
// header, a body that does not match its schema or that should be empty.
//
// Requests are matched to operations the way Go's ServeMux matches them: a
// path parameter is one non-empty segment, and HEAD is served wherever GET
// is. A request that matches no operation must be answered with
// RouteNotFound, or with MethodNotAllowed and an exact Allow header when its
// path exists.
func (c *Checker) Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	name := fmt.Sprintf("%s %s → %d", req.Method, req.URL.Path, status)
	route, params := c.findRoute(tb, name, req, header)

	response := route.Operation.Responses.Status(status)
	if response == nil {
		tb.Errorf("apitest: %s: the status is not documented for %s %s", name, route.Method, route.Path)
		return
	}
	if (req.Method == http.MethodHead || len(response.Value.Content) == 0) && len(body) > 0 {
		tb.Errorf("apitest: %s: the response must have no body, got %q", name, body)
	}
	if req.Method == http.MethodHead {
		return // ValidateResponse does not validate HEAD.
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		tb.Errorf("apitest: %s: the response does not match the OpenAPI document: %v\nbody: %s", name, err, body)
	}
}

// findRoute returns the operation req asks for or, when there is none, an
// operation whose only response is the one the document promises instead.
func (c *Checker) findRoute(tb testing.TB, name string, req *http.Request, header http.Header) (*routers.Route, map[string]string) {
	tb.Helper()
	path, item, params := c.matchPath(req.URL.Path)
	if item != nil {
		method := req.Method
		if method == http.MethodHead && item.Get != nil {
			method = http.MethodGet
		}
		if op := item.GetOperation(method); op != nil {
			return &routers.Route{Spec: c.doc, Path: path, PathItem: item, Method: method, Operation: op}, params
		}
	}

	status, response := http.StatusNotFound, routeNotFound
	if item != nil {
		status, response = http.StatusMethodNotAllowed, methodNotAllowed
		var allowed []string
		for m := range item.Operations() {
			allowed = append(allowed, m)
		}
		if item.Get != nil && item.Head == nil {
			allowed = append(allowed, http.MethodHead)
		}
		var got []string
		for _, m := range strings.Split(header.Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				got = append(got, m)
			}
		}
		slices.Sort(allowed)
		slices.Sort(got)
		if !slices.Equal(got, allowed) {
			tb.Errorf("apitest: %s: Allow = %q, the document serves %s", name, header.Get("Allow"), strings.Join(allowed, ", "))
		}
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, c.doc.Components.Responses[response]))
	return &routers.Route{Spec: c.doc, Path: req.URL.Path, Method: req.Method, Operation: op}, map[string]string{}
}

// matchPath returns the document's path that matches path, preferring
// literal segments to parameters as ServeMux does.
func (c *Checker) matchPath(path string) (string, *openapi3.PathItem, map[string]string) {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var (
		best       string
		bestItem   *openapi3.PathItem
		bestParams map[string]string
		bestScore  = -1
	)
	for tmpl, item := range c.doc.Paths.Map() {
		parts := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
		if len(parts) != len(segments) {
			continue
		}
		params, score := map[string]string{}, 0
		for i, part := range parts {
			if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
				if segments[i] == "" {
					score = -1
					break
				}
				params[part[1:len(part)-1]] = segments[i]
				continue
			}
			if part != segments[i] {
				score = -1
				break
			}
			score++
		}
		if score > bestScore {
			best, bestItem, bestParams, bestScore = tmpl, item, params, score
		}
	}
	return best, bestItem, bestParams
}
