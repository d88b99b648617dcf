package arena_test

import (
	"slices"
	"testing"

	"github.com/arena-hq/arena"
)

func TestEnableTag(t *testing.T) {
	tags := func(names ...string) []arena.Tag {
		out := make([]arena.Tag, len(names))
		for i, n := range names {
			out[i] = arena.Tag{Name: n, Priority: i + 1}
		}
		return out
	}
	tests := []struct {
		name    string
		tags    []arena.Tag
		keep    int
		enable  string
		changed bool
		want    []arena.Tag
	}{
		{"the first tag", nil, 0, "1.0", true, []arena.Tag{{Name: "1.0", Priority: 1}}},
		{"a new tag goes on top", tags("1.0", "1.1"), 0, "1.2", true, []arena.Tag{{"1.0", 1}, {"1.1", 2}, {"1.2", 3}}},
		{"an enabled tag keeps its priority", tags("1.0", "1.1"), 0, "1.0", false, tags("1.0", "1.1")},
		{"tagKeep retires the lowest priority", tags("1.0", "1.1"), 2, "1.2", true, []arena.Tag{{"1.1", 2}, {"1.2", 3}}},
		{"tagKeep 1 keeps the new tag alone", tags("1.0", "1.1"), 1, "2.0", true, []arena.Tag{{"2.0", 3}}},
		{"priorities need not be ordered", []arena.Tag{{"b", 5}, {"a", -2}, {"c", 0}}, 3, "d", true, []arena.Tag{{"b", 5}, {"c", 0}, {"d", 6}}},
		{"equal priorities retire the first listed", []arena.Tag{{"a", 1}, {"b", 1}}, 2, "c", true, []arena.Tag{{"b", 1}, {"c", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &arena.Application{Tags: slices.Clone(tt.tags), TagKeep: tt.keep}
			if got := a.EnableTag(tt.enable); got != tt.changed {
				t.Errorf("EnableTag = %v, want %v", got, tt.changed)
			}
			if !slices.Equal(a.Tags, tt.want) {
				t.Errorf("tags = %v, want %v", a.Tags, tt.want)
			}
			if def, _ := a.DefaultTag(); def != tt.enable && tt.changed {
				t.Errorf("default tag = %q, want the enabled %q", def, tt.enable)
			}
		})
	}
}
