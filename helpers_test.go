package arena_test

import (
	"slices"
	"testing"

	arena "github.com/arena-hq/arena"
)

// checkViolations fails tb unless err is nil when fields is nil, or an
// EINVALID error whose violations name exactly fields, in order.
func checkViolations(tb testing.TB, err error, fields []string) {
	tb.Helper()
	if fields == nil {
		if err != nil {
			tb.Fatalf("unexpected error %v", err)
		}
		return
	}
	if arena.ErrorCode(err) != arena.EINVALID {
		tb.Fatalf("got %v, want invalid", err)
	}
	var got []string
	for _, v := range arena.ErrorViolations(err) {
		got = append(got, v.Field)
	}
	if !slices.Equal(got, fields) {
		tb.Fatalf("violations on %v, want %v", got, fields)
	}
}
