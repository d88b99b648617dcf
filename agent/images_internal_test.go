package agent

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/arena-hq/arena"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short enough", "résumé", 16, "résumé"},
		{"cut between characters", "abcdef", 3, "abc…"},
		{"cut inside a character backs off", "aé", 2, "a…"},
		{"cut inside a four-byte character", "ab😀", 4, "ab…"},
		{"long registry text", strings.Repeat("é", 600), 1024, strings.Repeat("é", 512) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestImageReportIsBounded(t *testing.T) {
	m := newImages(nil, slog.New(slog.DiscardHandler), time.Second, time.Second, time.Hour, "")
	const wanted = 5000
	for i := range wanted {
		ref := fmt.Sprintf("registry.example/%s:%d", strings.Repeat("game", 20), i)
		m.wanted[ref] = nil
		m.state[ref] = &image{state: arena.ImageFailed, err: strings.Repeat("e", 100)}
	}
	got := m.report()
	size := 0
	for _, im := range got {
		size += len(im.Ref) + len(im.Error)
	}
	if len(got) == 0 || len(got) == wanted || size > maxImageReport {
		t.Fatalf("reported %d of %d images in %d bytes, want some, not all, within %d", len(got), wanted, size, maxImageReport)
	}
	if !slices.IsSortedFunc(got, func(a, b arena.NodeImage) int { return strings.Compare(a.Ref, b.Ref) }) {
		t.Error("the report is not ordered by reference")
	}
}
