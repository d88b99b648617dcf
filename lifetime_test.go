package arena_test

import (
	"testing"
	"time"

	"github.com/arena-hq/arena"
)

func TestParseLifetime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1m", time.Minute, true},
		{"30m", 30 * time.Minute, true},
		{"1h", time.Hour, true},
		{"2h30m", 150 * time.Minute, true},
		{"90m", 90 * time.Minute, true},
		{"1.5h", 90 * time.Minute, true},
		{"0.25m", time.Minute, true}, // under a minute rounds up to one
		{"0m", time.Minute, true},
		{"1.25m", 75 * time.Second, true},
		{"", 0, false},
		{"soon", 0, false},
		{"30s", 0, false}, // seconds are not a unit of the contract's
		{"1d", 0, false},
		{"-5m", 0, false},
		{"m", 0, false},
		{"30m1h", 0, false},
		{" 1h", 0, false},
		{"1h ", 0, false},
		{"99999999999h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := arena.ParseLifetime(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseLifetime(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestFormatLifetime(t *testing.T) {
	for _, d := range []time.Duration{time.Minute, 59 * time.Minute, time.Hour, 150 * time.Minute, arena.MaxTTL} {
		t.Run(d.String(), func(t *testing.T) {
			got, err := arena.ParseLifetime(arena.FormatLifetime(d))
			if err != nil || got != d {
				t.Errorf("FormatLifetime(%v) = %q, which reads back as %v, %v", d, arena.FormatLifetime(d), got, err)
			}
		})
	}
}
