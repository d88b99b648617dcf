package hetzner

import "github.com/arena-hq/arena/provider/internal/fakeapi"

// The fake Hetzner Cloud API is fakeapi's; what is here is what the API
// says.

// apiError is the API's error answer of code.
func apiError(status int, code string) fakeapi.Answer {
	return fakeapi.Answer{Status: status, Body: map[string]any{"error": map[string]any{"code": code, "message": "fake " + code, "details": nil}}}
}

// server is the API's description of a server.
func server(id int64, name, ip string, labels map[string]string) map[string]any {
	return map[string]any{
		"id":      id,
		"name":    name,
		"status":  "initializing",
		"created": "2026-01-02T03:04:05Z",
		"public_net": map[string]any{
			"ipv4": map[string]any{"id": id + 1000, "ip": ip, "blocked": false, "dns_ptr": ""},
			"ipv6": map[string]any{"ip": "2001:db8::/64", "blocked": false},
		},
		"server_type": map[string]any{"id": 1, "name": "cx22"},
		"location":    map[string]any{"id": 1, "name": "fsn1"},
		"labels":      labels,
	}
}

// action is the API's description of a running action.
func action(id int64, command string) map[string]any {
	return map[string]any{"id": id, "command": command, "status": "running", "progress": 0,
		"started": "2026-01-02T03:04:05Z", "finished": nil, "resources": []any{}, "error": nil}
}
