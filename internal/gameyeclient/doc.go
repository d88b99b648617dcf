// Package gameyeclient holds Go clients of the Gameye Session API generated,
// unmodified, from the two revisions of its document that Arena serves
// (http/testdata/contract): current is what Gameye's Nakama fleet manager
// v0.1.0 is generated from, v121 the earlier 1.2.1. They are generated with
// oapi-codegen v2.4.1 and the fleet manager's own settings (client and
// models), so that tests can run real clients of both revisions against
// Arena. Nothing but tests uses them.
package gameyeclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.4.1 -config current/config.yaml ../../http/testdata/contract/gameye-api-current.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.4.1 -config v121/config.yaml ../../http/testdata/contract/gameye-session-api-1.2.1.yaml
