package docker

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Logs returns what the container, found by id or name, wrote to stdout and
// stderr since it was created, as one plain text stream in the order it was
// written. Without follow the stream ends with io.EOF at the end of what was
// logged so far; with follow it goes on until the container stops (io.EOF)
// or ctx ends (ctx's error).
//
// The request gets the call timeout until the engine answers it; the
// stream that follows has no deadline but ctx, as a follow may last hours.
// Closing the reader ends the stream and releases everything it holds; a
// Read after Close fails.
//
// Containers are created without a TTY, so the engine multiplexes their
// stdout and stderr: the stream is demultiplexed here. A container with a
// TTY, which the Runtime never creates, would make the stream fail.
func (r *Runtime) Logs(ctx context.Context, container string, follow bool) (_ io.ReadCloser, err error) {
	defer r.observe("logs", time.Now(), &err)
	doing := "reading the logs of container " + container
	// The request's context lives as long as the stream, so it cannot carry
	// the call timeout: a timer cancels it instead if the engine has not
	// answered in time.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(r.callTimeout, cancel)
	body, err := r.cli.ContainerLogs(ctx, container, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     follow,
	})
	if !timer.Stop() {
		// The timer fired, whatever the call returned: the context is gone.
		cancel()
		if body != nil {
			body.Close()
		}
		if err == nil {
			err = errors.New("request canceled")
		}
		return nil, wrapError(errors.Join(context.DeadlineExceeded, err), doing)
	}
	if err != nil {
		cancel()
		return nil, wrapError(err, doing)
	}

	pr, pw := io.Pipe()
	s := &logStream{pr: pr, body: body, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer cancel()
		defer body.Close()
		_, err := stdcopy.StdCopy(pw, pw, body)
		switch {
		case err == nil:
		case parent.Err() != nil:
			// The caller ended the stream: its own error says so best.
			err = parent.Err()
		default:
			err = wrapError(err, doing)
		}
		// A nil error makes the reader see io.EOF.
		pw.CloseWithError(err)
	}()
	return s, nil
}

// logStream is the reader Logs returns: the read end of a pipe that a
// goroutine fills from the engine's multiplexed stream.
type logStream struct {
	pr     *io.PipeReader
	body   io.Closer
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (s *logStream) Read(p []byte) (int, error) { return s.pr.Read(p) }

// Close ends the stream and returns once the goroutine that copies it has
// ended.
func (s *logStream) Close() error {
	s.once.Do(func() {
		// Closing the read end fails a write the goroutine is blocked in;
		// cancelling the request and closing the body fail a read.
		s.pr.Close()
		s.cancel()
		s.body.Close()
	})
	<-s.done
	return nil
}
