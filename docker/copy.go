package docker

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// CopyFrom returns a tar stream of the file or folder at path in the
// container, found by id or name, running or stopped, as the engine's copy
// API gives it: entries are named from the path's last element. An unknown
// container or path is ENOTFOUND.
//
// The request gets the call timeout until the engine answers it; reading
// the stream that follows has no deadline but ctx. Closing the reader ends
// the stream and releases everything it holds; a Read after Close fails.
func (r *Runtime) CopyFrom(ctx context.Context, container, path string) (_ io.ReadCloser, err error) {
	defer r.observe("copy", time.Now(), &err)
	doing := "copying " + path + " from container " + container
	// The request's context lives as long as the stream, so it cannot carry
	// the call timeout: a timer cancels it instead if the engine has not
	// answered in time.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(r.callTimeout, cancel)
	res, err := r.cli.CopyFromContainer(ctx, container, client.CopyFromContainerOptions{SourcePath: path})
	if !timer.Stop() {
		// The timer fired, whatever the call returned: the context is gone.
		cancel()
		if res.Content != nil {
			res.Content.Close()
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
	return &copyStream{body: res.Content, parent: parent, cancel: cancel, doing: doing}, nil
}

// copyStream is the reader CopyFrom returns: the engine's response body,
// whose request context it cancels when closed.
type copyStream struct {
	body   io.ReadCloser
	parent context.Context
	cancel context.CancelFunc
	doing  string
	once   sync.Once
}

func (s *copyStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case s.parent.Err() != nil:
		// The caller ended the stream: its own error says so best.
		err = s.parent.Err()
	default:
		err = wrapError(err, s.doing)
	}
	return n, err
}

// Close ends the stream and releases the connection it holds.
func (s *copyStream) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.body.Close()
	})
	return nil
}
