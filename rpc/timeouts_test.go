package rpc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/arena-hq/arena"
	arenahttp "github.com/arena-hq/arena/http"
	"github.com/arena-hq/arena/rpc"
)

// TestCallsOutliveServerTimeouts serves the agent service as Arena's
// listeners do, with read and write timeouts far shorter than an agent's
// calls last: a Watch stream must carry assignments long after them, and a
// PushLogs call that the control plane holds must still be answered.
func TestCallsOutliveServerTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	f := newFake()
	f.pushLogs = func(ctx context.Context, _ arena.LogChunk) (bool, error) {
		select {
		case <-time.After(3 * timeout):
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	path, h := rpc.NewHandler(f, rpc.WithKeepaliveInterval(50*time.Millisecond))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := arenahttp.NewServer(mux, arenahttp.ServerConfig{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serving: %v", err)
		}
	})
	c := rpc.NewClient("http://"+ln.Addr().String(), rpc.WithCredential("cred-n1"))

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := c.Assignments(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := next(t, ch); !ok {
			t.Fatal("no full assignment")
		}
		feed := <-f.watches
		for i, state := range []arena.SessionState{arena.SessionRunning, arena.SessionStopping} {
			// Time passing is what is tested: each change comes after
			// both timeouts would have ended the stream.
			time.Sleep(3 * timeout)
			change := arena.Assignment{Sessions: []*arena.Session{testSession("s1", state)}}
			feed <- change
			if a, ok := next(t, ch); !ok || !reflect.DeepEqual(a, change) {
				t.Fatalf("change %d after %v: got %+v (stream open: %v), want %+v", i, time.Duration(i+1)*3*timeout, a, ok, change)
			}
		}
		select {
		case <-f.watches:
			t.Error("the agent had to watch again: its stream was cut")
		default:
		}
	})

	t.Run("held PushLogs", func(t *testing.T) {
		more, err := c.PushLogs(context.Background(), arena.LogChunk{RequestID: "r1", NodeID: "n1", Data: []byte("out\n")})
		if err != nil || !more {
			t.Fatalf("PushLogs held for %v = %v, %v; want true, nil", 3*timeout, more, err)
		}
	})
}
