package http

import (
	_ "embed"
	"slices"
)

// openAPIDocument is served at GET /openapi.yaml and is what tests validate
// every response against, so the document cannot drift from the server.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.0 document of the API the handler
// serves: the contract's session operations, Arena's additions and, under
// x-arena-differences, every deliberate difference from the contract.
func OpenAPIDocument() []byte {
	return slices.Clone(openAPIDocument)
}
