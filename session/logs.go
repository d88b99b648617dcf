package session

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/arena-hq/arena"
)

// logFirstChunkTimeout is how long a log request waits for its node's first
// answer before it gives up: the node may be unreachable.
const logFirstChunkTimeout = 15 * time.Second

// logRelay carries sessions' output and artifacts from their nodes'
// agents to whoever asked for them: a request goes to the node on its
// assignment stream, and the agent pushes the answer back in chunks.
type logRelay struct {
	nodes *nodeStreams
	// knows reports whether a node is part of the installation.
	knows   func(nodeID string) bool
	mu      sync.Mutex
	streams map[string]*logStream // by log request id
}

// logStream carries one session's output from its node's agent to a reader.
type logStream struct {
	nodeID   string
	artifact bool
	w        *io.PipeWriter
	heard    sync.Once
	timer    *time.Timer
	// first receives the outcome of the node's first answer: nil once the
	// stream is open, or why it is not.
	first chan error
}

// Logs returns a session's output as its node's agent sends it: what the
// container wrote so far, and with follow what it writes until it stops or
// the reader is closed. The output stays on the node until asked for. A
// stopped session's is what its node kept when it stopped, for as long as
// it keeps artifacts: a follow of it ends with it. ENOTFOUND once nothing
// is kept.
func (s *Service) Logs(ctx context.Context, orgID, sessionID string, follow bool) (io.ReadCloser, error) {
	sess, err := s.FindSession(ctx, orgID, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.State == arena.SessionStopped {
		follow = false
	}
	return s.logs.fetch(ctx, sess, arena.LogRequest{SessionID: sess.ID, Follow: follow})
}

// Artifact returns the artifact kept at path when a session stopped, as a
// .tar.gz its node's agent sends: ECONFLICT while the session has not
// stopped, ENOTFOUND when nothing was kept there.
func (s *Service) Artifact(ctx context.Context, orgID, sessionID, path string) (io.ReadCloser, error) {
	sess, err := s.FindSession(ctx, orgID, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.State != arena.SessionStopped {
		return nil, arena.Errorf(arena.ECONFLICT, "session %q has not stopped: its artifacts are kept when it stops", sessionID)
	}
	return s.logs.fetch(ctx, sess, arena.LogRequest{SessionID: sess.ID, ArtifactPath: path})
}

// fetch asks the session's node for its output or an artifact and returns
// the stream its agent answers with.
func (r *logRelay) fetch(ctx context.Context, sess *arena.Session, req arena.LogRequest) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	req.ID = uuid.NewString()
	id := req.ID
	st := &logStream{nodeID: sess.NodeID, w: pw, artifact: req.ArtifactPath != "", first: make(chan error, 1)}
	st.timer = time.AfterFunc(logFirstChunkTimeout, func() {
		r.end(id, arena.Errorf(arena.EUNAVAILABLE, "the node of session %q did not answer", sess.PublicID()))
	})
	if sess.State == arena.SessionStopped && !r.knows(sess.NodeID) {
		// Removed from the installation: what it kept is out of reach for good.
		st.timer.Stop()
		return nil, arena.Errorf(arena.ENOTFOUND, "the node of session %q has been removed, and what it kept with it", sess.PublicID())
	}
	r.mu.Lock()
	r.streams[id] = st
	r.mu.Unlock()
	if !r.nodes.send(sess.NodeID, arena.Assignment{LogRequests: []arena.LogRequest{req}}) {
		r.mu.Lock()
		delete(r.streams, id)
		r.mu.Unlock()
		st.timer.Stop()
		return nil, arena.Errorf(arena.EUNAVAILABLE, "the node of session %q is not connected", sess.PublicID())
	}
	// The node's first answer decides the status the caller gets: an open
	// stream, or the reason there is none.
	select {
	case err := <-st.first:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		r.end(id, ctx.Err())
		return nil, ctx.Err()
	}
	return &logReader{PipeReader: pr, close: func() { r.end(id, errors.New("the reader went away")) }}, nil
}

// endNode ends the streams of a node that went away: nothing more will
// come from it.
func (r *logRelay) endNode(nodeID string) {
	r.mu.Lock()
	var ids []string
	for id, st := range r.streams {
		if st.nodeID == nodeID {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	for _, id := range ids {
		r.end(id, arena.Errorf(arena.EUNAVAILABLE, "the node went away"))
	}
}

type logReader struct {
	*io.PipeReader
	close func()
}

func (r *logReader) Close() error {
	r.close()
	return r.PipeReader.Close()
}

// end forgets a log stream and ends its pipe with err (nil: a clean end).
func (r *logRelay) end(id string, err error) {
	r.mu.Lock()
	st, ok := r.streams[id]
	delete(r.streams, id)
	r.mu.Unlock()
	if ok {
		st.timer.Stop()
		st.opened(err)
		st.w.CloseWithError(err)
	}
}

// opened reports the stream's first outcome, once.
func (st *logStream) opened(err error) {
	st.heard.Do(func() {
		st.timer.Stop()
		st.first <- err
	})
}

// push takes a chunk of output from a node's agent and hands it to the
// reader, waiting for the reader to take it so that a slow reader slows the
// node down rather than filling memory. It answers false once nobody reads.
func (r *logRelay) push(ctx context.Context, c arena.LogChunk) (bool, error) {
	r.mu.Lock()
	st, ok := r.streams[c.RequestID]
	r.mu.Unlock()
	if !ok {
		return false, nil
	}
	if st.nodeID != c.NodeID {
		return false, arena.Errorf(arena.ENOTFOUND, "log request %q not found", c.RequestID)
	}
	if !c.EOF || c.Error == "" {
		st.opened(nil)
	}
	if len(c.Data) > 0 {
		// Should the agent give up on a reader this slow, end the stream
		// rather than leave a follower waiting for output that never comes.
		stop := context.AfterFunc(ctx, func() {
			r.end(c.RequestID, arena.Errorf(arena.EUNAVAILABLE, "the reader was too slow for the node"))
		})
		_, err := st.w.Write(c.Data)
		stop()
		if err != nil {
			r.end(c.RequestID, nil)
			return false, nil
		}
	}
	if c.EOF {
		var err error
		if c.Error != "" {
			err = chunkError(c, st.artifact)
		}
		r.end(c.RequestID, err)
		return false, nil
	}
	return true, nil
}

// chunkError is the error a node's failed answer stands for, with the code
// the agent gave it.
func chunkError(c arena.LogChunk, artifact bool) error {
	code := c.Code
	switch {
	case code == "" && artifact:
		code = arena.ENOTFOUND
	case code == "":
		code = arena.EUNAVAILABLE
	case code != arena.ENOTFOUND && code != arena.EUNAVAILABLE && code != arena.EINTERNAL:
		// A node has no say in the caller's credentials or request.
		code = arena.EINTERNAL
	}
	if !artifact && code == arena.EUNAVAILABLE {
		return arena.Errorf(code, "the node could not send the output: %s", c.Error)
	}
	return arena.Errorf(code, "%s", c.Error)
}
