package http_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/arena-hq/arena"
)

func TestAdminNodes(t *testing.T) {
	api := newTestAPI(t, nil)
	admin := func(method, path string) response {
		t.Helper()
		req := api.request(t, method, path, "")
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		return api.send(t, req)
	}
	tests := []struct {
		name   string
		method string
		path   string
		admin  bool
		status int
	}{
		{"list needs the operator scope", http.MethodGet, "/admin/v1/nodes", false, http.StatusForbidden},
		{"drain needs the operator scope", http.MethodPost, "/admin/v1/nodes/n1/drain", false, http.StatusForbidden},
		{"list", http.MethodGet, "/admin/v1/nodes", true, http.StatusOK},
		{"drain", http.MethodPost, "/admin/v1/nodes/n1/drain", true, http.StatusOK},
		{"drain unknown node", http.MethodPost, "/admin/v1/nodes/nope/drain", true, http.StatusNotFound},
		{"undrain", http.MethodPost, "/admin/v1/nodes/n1/undrain", true, http.StatusOK},
		{"wrong method", http.MethodDelete, "/admin/v1/nodes", true, http.StatusMethodNotAllowed},
		{"remove needs the operator scope", http.MethodDelete, "/admin/v1/nodes/n2", false, http.StatusForbidden},
		{"remove a node with sessions", http.MethodDelete, "/admin/v1/nodes/n1", true, http.StatusConflict},
		{"remove unknown node", http.MethodDelete, "/admin/v1/nodes/nope", true, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.admin {
				r = admin(tt.method, tt.path)
			} else {
				r = api.do(t, tt.method, tt.path, "")
			}
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body: %s", r.status, tt.status, r.body)
			}
		})
	}

	r := admin(http.MethodPost, "/admin/v1/nodes/n2/drain")
	var n struct {
		ID       string          `json:"id"`
		State    string          `json:"state"`
		Draining bool            `json:"draining"`
		Capacity arena.Resources `json:"capacity"`
		Ports    struct{ Free int }
	}
	if err := json.Unmarshal(r.body, &n); err != nil || n.ID != "n2" || !n.Draining || n.State != "unreachable" || n.Capacity.MilliCPU != 4000 || n.Ports.Free != 27532 {
		t.Fatalf("drained node %s (%v)", r.body, err)
	}
	var list struct {
		Nodes []struct {
			ID       string `json:"id"`
			Draining bool   `json:"draining"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(admin(http.MethodGet, "/admin/v1/nodes").body, &list); err != nil || len(list.Nodes) != 2 || !list.Nodes[1].Draining || list.Nodes[0].Draining {
		t.Fatalf("list %+v (%v)", list, err)
	}
	if r := admin(http.MethodDelete, "/admin/v1/nodes/n2"); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(admin(http.MethodGet, "/admin/v1/nodes").body, &list); err != nil || len(list.Nodes) != 1 {
		t.Fatalf("list after remove %+v (%v)", list, err)
	}
}
