package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/arena-hq/arena"
)

func TestLogsCarryTheRequestID(t *testing.T) {
	tests := []struct {
		name, format string
		log          func(ctx context.Context, l *slog.Logger)
		want         string
		count        int
	}{
		{"text", "text", func(ctx context.Context, l *slog.Logger) { l.InfoContext(ctx, "session started") }, "request_id=req-1", 1},
		{"json", "json", func(ctx context.Context, l *slog.Logger) { l.InfoContext(ctx, "session started") }, `"request_id":"req-1"`, 1},
		{"given once", "text", func(ctx context.Context, l *slog.Logger) { l.InfoContext(ctx, "http request", "request_id", "req-1") }, "request_id=req-1", 1},
		{"with attributes", "text", func(ctx context.Context, l *slog.Logger) { l.With("component", "http").InfoContext(ctx, "x") }, "request_id=req-1", 1},
		{"outside a request", "text", func(_ context.Context, l *slog.Logger) { l.Info("node registered") }, "request_id", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger(&buf, tt.format, "info")
			if err != nil {
				t.Fatal(err)
			}
			tt.log(arena.WithRequestID(context.Background(), "req-1"), l)
			if got := strings.Count(buf.String(), tt.want); got != tt.count {
				t.Fatalf("%q appears %d times in %s, want %d", tt.want, got, buf.String(), tt.count)
			}
		})
	}
}
