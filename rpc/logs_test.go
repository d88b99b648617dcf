package rpc_test

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/arena-hq/arena"
	"github.com/arena-hq/arena/rpc"
	"github.com/arena-hq/arena/rpc/agentv1"
	"github.com/arena-hq/arena/rpc/agentv1/agentv1connect"
)

func TestLogRequestsArriveThroughWatch(t *testing.T) {
	f := newFake()
	f.full = arena.Assignment{
		Full:        true,
		Sessions:    []*arena.Session{testSession("s1", arena.SessionRunning)},
		LogRequests: []arena.LogRequest{{ID: "r0", SessionID: "s1"}},
	}
	url, _ := serve(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).Assignments(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, f.full) {
		t.Fatalf("first assignment %+v, want %+v", a, f.full)
	}
	feed := <-f.watches
	for _, change := range []arena.Assignment{
		{LogRequests: []arena.LogRequest{{ID: "r1", SessionID: "s1", Follow: true}}},
		{Sessions: []*arena.Session{testSession("s1", arena.SessionStopping)}, LogRequests: []arena.LogRequest{{ID: "r3", SessionID: "s1"}, {ID: "r4", SessionID: "s1", Follow: true}}},
	} {
		feed <- change
		if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, change) {
			t.Fatalf("got %+v, want %+v", a, change)
		}
	}
}

func TestPushLogs(t *testing.T) {
	ctx := context.Background()

	t.Run("chunks reach the control plane as the authenticated node's", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
		chunks := []arena.LogChunk{
			{RequestID: "r1", NodeID: "n1", Data: []byte("starting\n")},
			// No node id: the authenticated node's.
			{RequestID: "r1", Data: bytes.Repeat([]byte{0, 0xff}, rpc.MaxLogChunkBytes/2)},
			{RequestID: "r1", NodeID: "n1", EOF: true, Error: "reading the container's output failed"},
		}
		for i, chunk := range chunks {
			more, err := c.PushLogs(ctx, chunk)
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			if want := !chunk.EOF; more != want {
				t.Errorf("chunk %d: more = %v, want %v", i, more, want)
			}
		}
		chunks[1].NodeID = "n1"
		if got := f.Chunks(); !reflect.DeepEqual(got, chunks) {
			t.Fatalf("the control plane got %+v\nwant %+v", got, chunks)
		}
	})

	t.Run("more is what the control plane says", func(t *testing.T) {
		for _, want := range []bool{true, false} {
			f := newFake()
			f.pushLogs = func(context.Context, arena.LogChunk) (bool, error) { return want, nil }
			url, _ := serve(t, f)
			more, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).PushLogs(ctx, arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte("x")})
			if err != nil || more != want {
				t.Fatalf("got %v, %v, want %v", more, err, want)
			}
		}
	})

	t.Run("another node's credential is refused", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
		for name, chunk := range map[string]arena.LogChunk{
			"as another node":                            {RequestID: "r2", NodeID: "n2", Data: []byte("x")},
			"for another node's request":                 {RequestID: "r2", NodeID: "n1", Data: []byte("x")},
			"for another node's request, without a node": {RequestID: "r2", Data: []byte("x")},
		} {
			if more, err := c.PushLogs(ctx, chunk); arena.ErrorCode(err) != arena.EUNAUTHORIZED || more {
				t.Errorf("%s: %v, %v, want unauthorized", name, more, err)
			}
		}
		raw := agentv1connect.NewAgentServiceClient(http.DefaultClient, url)
		for name, chunk := range map[string]*agentv1.LogChunk{
			"as another node":            {RequestId: "r2", NodeId: "n2"},
			"for another node's request": {RequestId: "r2", NodeId: "n1"},
		} {
			req := authorized(&agentv1.PushLogsRequest{Chunk: chunk}, "Bearer cred-n1")
			if _, err := raw.PushLogs(ctx, req); connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Errorf("raw, %s: %v, want permission denied", name, err)
			}
		}
		if got := f.Chunks(); len(got) != 0 {
			t.Fatalf("chunks recorded: %+v", got)
		}
	})

	t.Run("bad chunks are refused before the control plane", func(t *testing.T) {
		f := newFake()
		url, _ := serve(t, f)
		raw := agentv1connect.NewAgentServiceClient(http.DefaultClient, url)
		if _, err := raw.PushLogs(ctx, authorized(&agentv1.PushLogsRequest{}, "Bearer cred-n1")); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("no chunk: %v, want invalid argument", err)
		}
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"))
		big := arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: make([]byte, rpc.MaxLogChunkBytes+1)}
		if _, err := c.PushLogs(ctx, big); arena.ErrorCode(err) != arena.EINVALID {
			t.Errorf("an oversized chunk: %v, want invalid", err)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Fatalf("the control plane saw %v", calls)
		}
	})

	t.Run("errors of the control plane keep their code", func(t *testing.T) {
		f := newFake()
		f.pushLogs = func(context.Context, arena.LogChunk) (bool, error) {
			return false, arena.Errorf(arena.EUNAVAILABLE, "shutting down")
		}
		url, _ := serve(t, f)
		_, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).PushLogs(ctx, arena.LogChunk{RequestID: "r1", NodeID: "n1"})
		if arena.ErrorCode(err) != arena.EUNAVAILABLE || arena.ErrorMessage(err) != "shutting down" {
			t.Fatalf("got %v, want unavailable", err)
		}
	})

	t.Run("a call held for a slow reader outlasts the call timeout", func(t *testing.T) {
		f := newFake()
		deadlines := make(chan time.Duration, 1)
		f.pushLogs = func(ctx context.Context, _ arena.LogChunk) (bool, error) {
			d, _ := ctx.Deadline() // none: far in the past
			deadlines <- time.Until(d)
			select {
			case <-time.After(300 * time.Millisecond): // the reader takes the chunk
				return true, nil
			case <-ctx.Done():
				return false, arena.Errorf(arena.EUNAVAILABLE, "too late")
			}
		}
		url, _ := serve(t, f)
		c := rpc.NewClient(url, rpc.WithCredential("cred-n1"), rpc.WithCallTimeout(50*time.Millisecond))
		if more, err := c.PushLogs(ctx, arena.LogChunk{RequestID: "r1", NodeID: "n1"}); err != nil || !more {
			t.Fatalf("got %v, %v", more, err)
		}
		if d := <-deadlines; d < 50*time.Second || d > 60*time.Second {
			t.Fatalf("the control plane saw a deadline %v away, want about a minute", d)
		}
	})

	t.Run("the caller's deadline wins", func(t *testing.T) {
		f := newFake()
		deadlines := make(chan time.Duration, 1)
		f.pushLogs = func(ctx context.Context, _ arena.LogChunk) (bool, error) {
			d, _ := ctx.Deadline()
			deadlines <- time.Until(d)
			<-ctx.Done()
			return false, arena.Errorf(arena.EUNAVAILABLE, "too late")
		}
		url, _ := serve(t, f)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := rpc.NewClient(url, rpc.WithCredential("cred-n1")).PushLogs(cctx, arena.LogChunk{RequestID: "r1", NodeID: "n1"})
		if arena.ErrorCode(err) != arena.EUNAVAILABLE {
			t.Fatalf("got %v, want unavailable", err)
		}
		if d := <-deadlines; d < 0 || d > 100*time.Millisecond {
			t.Fatalf("the control plane saw a deadline %v away, want at most 100ms", d)
		}
	})
}
