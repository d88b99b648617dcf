package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadAppFile reads application files as `arena app apply -f` does:
// what the admin API takes passes through as written.
func TestReadAppFile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want map[string]any
	}{
		{"limits, regions, tagKeep and nodePool", `
name: duel
limits: {milliCpu: 2000, memoryMb: 512}
regions: [europe, us-east]
tagKeep: 3
nodePool: metal
`, map[string]any{
			"name": "duel", "limits": map[string]any{"milliCpu": 2000, "memoryMb": 512},
			"regions": []any{"europe", "us-east"}, "tagKeep": 3, "nodePool": "metal",
		}},
		{"no tags", "name: duel\ntags: []\n", map[string]any{"name": "duel", "tags": []any{}}},
		{"a numeric tag stays a string", "name: duel\ntags: [{name: 1.10, priority: 1}]\n",
			map[string]any{"name": "duel", "tags": []any{map[string]any{"name": "1.10", "priority": 1}}}},
		{"a numeric user stays a string", "name: duel\nuser: 1000\n", map[string]any{"name": "duel", "user": "1000"}},
		{"security settings", "name: duel\nuser: 65534:65534\nreadOnlyRootFilesystem: true\ntmpfs: [/tmp]\n",
			map[string]any{"name": "duel", "user": "65534:65534", "readOnlyRootFilesystem": true, "tmpfs": []any{"/tmp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readAppFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("read %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"absent", nil, "-"},
		{"empty list", []any{}, "-"},
		{"names", []any{map[string]any{"name": "1.0"}, map[string]any{"name": "2.0"}}, "1.0,2.0"},
		{"strings", []any{"europe", "us-east"}, "europe,us-east"},
		{"object", map[string]any{"milliCpu": 2000.0, "memoryMb": 512.0}, `{"memoryMb":512,"milliCpu":2000}`},
		{"number", 3.0, "3"},
		{"empty string", "", "-"},
		{"string", "65534:65534", "65534:65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cell(tt.v); got != tt.want {
				t.Fatalf("cell(%#v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}
