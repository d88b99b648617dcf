package sim

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	pathpkg "path"

	"github.com/arena-hq/arena"
)

// output is what a simulated container "wrote": Start writes a line, Write
// more, and followers learn of both through changed.
type output struct {
	data    []byte
	exited  bool
	changed chan struct{} // closed and replaced at every change
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

// note records a change; the caller holds r.mu.
func (o *output) note() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// Write appends text to the output of a session's container, as if its
// process had printed it.
func (r *Runtime) Write(sessionID, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.containers {
		if c.SessionID == sessionID {
			o := r.outputs[id]
			o.data = append(o.data, text...)
			o.note()
			return nil
		}
	}
	return arena.Errorf(arena.ENOTFOUND, "no container of session %s", sessionID)
}

// Logs implements agent.Runtime.
func (r *Runtime) Logs(ctx context.Context, container string, follow bool) (io.ReadCloser, error) {
	r.mu.Lock()
	id := container
	if named, ok := r.names[container]; ok {
		id = named
	}
	o, ok := r.outputs[id]
	r.mu.Unlock()
	if !ok {
		return nil, arena.Errorf(arena.ENOTFOUND, "container %s not found", container)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		sent := 0
		for {
			r.mu.Lock()
			data, exited, changed := o.data[sent:], o.exited, o.changed
			r.mu.Unlock()
			if len(data) > 0 {
				if _, err := pw.Write(data); err != nil {
					return
				}
				sent += len(data)
			}
			if !follow || exited {
				pw.Close()
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return readCloser{pr, cancel}, nil
}

type readCloser struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (rc readCloser) Close() error {
	rc.cancel()
	return rc.PipeReader.Close()
}

// CopyFrom implements agent.Runtime: every path of a simulated container
// holds one small file named after it.
func (r *Runtime) CopyFrom(ctx context.Context, container, path string) (io.ReadCloser, error) {
	r.mu.Lock()
	id := container
	if named, ok := r.names[container]; ok {
		id = named
	}
	_, ok := r.containers[id]
	r.mu.Unlock()
	if !ok {
		return nil, arena.Errorf(arena.ENOTFOUND, "container %s not found", container)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("simulated artifact " + path + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: pathpkg.Base(path), Mode: 0o644, Size: int64(len(body))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(body); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}
