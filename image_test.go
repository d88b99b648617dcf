package arena_test

import (
	"slices"
	"testing"

	"github.com/arena-hq/arena"
)

func TestWantedImages(t *testing.T) {
	app := func(org, name string, tags ...string) *arena.Application {
		a := &arena.Application{OrgID: org, Name: name, Repository: "registry.example.com/" + name}
		for i, tag := range tags {
			a.Tags = append(a.Tags, arena.Tag{Name: tag, Priority: i})
		}
		return a
	}
	tests := []struct {
		name string
		apps []*arena.Application
		want []string
	}{
		{"none", nil, nil},
		{"every tag", []*arena.Application{app("o", "duel", "v1", "v2")},
			[]string{"o registry.example.com/duel:v1", "o registry.example.com/duel:v2"}},
		// An application without tags, as the Gameye API makes them, has
		// nothing to pull yet.
		{"an application without tags", []*arena.Application{app("o", "new"), app("o", "duel", "v1")},
			[]string{"o registry.example.com/duel:v1"}},
		{"only applications without tags", []*arena.Application{app("o", "new"), app("p", "other")}, nil},
		{"once per organisation", []*arena.Application{app("o", "duel", "v1"), app("o", "duel", "v1"), app("p", "duel", "v1")},
			[]string{"o registry.example.com/duel:v1", "p registry.example.com/duel:v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, w := range arena.WantedImages(tt.apps) {
				got = append(got, w.OrgID+" "+w.Ref)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("wanted %v, want %v", got, tt.want)
			}
		})
	}
}
