package digitalocean

import (
	"net/http"
	"strconv"

	"github.com/arena-hq/arena/provider/internal/fakeapi"
)

// The fake DigitalOcean API is fakeapi's; what is here is what the API
// says.

// apiError is the API's error answer: id names the status
// (unauthorized, not_found, too_many_requests, unprocessable_entity, ...).
func apiError(status int, id, message string) fakeapi.Answer {
	return fakeapi.Answer{Status: status, Body: map[string]any{"id": id, "message": message, "request_id": "req-0123"}}
}

// droplet is the API's description of a droplet with tags.
func droplet(id int, name, ip string, tags []string) map[string]any {
	return map[string]any{
		"id":         id,
		"name":       name,
		"memory":     4096,
		"vcpus":      2,
		"disk":       80,
		"locked":     false,
		"status":     "new",
		"created_at": "2026-01-02T03:04:05Z",
		"networks": map[string]any{
			"v4": []any{
				map[string]any{"ip_address": "10.110.0.2", "netmask": "255.255.240.0", "gateway": "", "type": "private"},
				map[string]any{"ip_address": ip, "netmask": "255.255.240.0", "gateway": "203.0.113.1", "type": "public"},
			},
			"v6": []any{},
		},
		"region":    map[string]any{"slug": "ams3", "name": "Amsterdam 3", "available": true},
		"image":     map[string]any{"id": 7, "slug": "ubuntu-24-04-x64", "distribution": "Ubuntu"},
		"size_slug": "s-2vcpu-4gb",
		"tags":      tags,
		"vpc_uuid":  "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
	}
}

// page is the API's answer of one page of a droplet list: prev and next
// are the numbers of the pages it links to, 0 for none.
func page(f *fakeapi.Server, droplets []any, prev, next int) fakeapi.Answer {
	link := func(n int) string {
		return f.URL + "/v2/droplets?page=" + strconv.Itoa(n) + "&per_page=200&tag_name=arena-installation%3Ainst-1"
	}
	pages := map[string]any{}
	if prev > 0 {
		pages["first"], pages["prev"] = link(1), link(prev)
	}
	if next > 0 {
		pages["next"], pages["last"] = link(next), link(next)
	}
	return fakeapi.Answer{Status: http.StatusOK, Body: map[string]any{"droplets": droplets, "links": map[string]any{"pages": pages},
		"meta": map[string]any{"total": len(droplets)}}}
}
