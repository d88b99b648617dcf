package agent

import (
	"context"
	"errors"
	"io"

	"github.com/arena-hq/arena"
)

// logChunkSize bounds one chunk of output sent to the control plane.
const logChunkSize = 32 << 10

// sendLogs answers a LogRequest: it reads the session's container output
// and sends it in chunks until the output ends, the control plane says nobody
// reads it any more, or the agent stops. Logs never leave the node otherwise.
func (a *Agent) sendLogs(req arena.LogRequest) {
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	chunk := arena.LogChunk{RequestID: req.ID, NodeID: a.cfg.Node.ID}
	if req.ArtifactPath != "" {
		a.sendArtifact(ctx, req, chunk)
		return
	}
	name := (&arena.Session{ID: req.SessionID}).ContainerName()
	rc, err := a.rt.Logs(ctx, name, req.Follow)
	if err != nil {
		chunk.EOF, chunk.Error, chunk.Code = true, arena.ErrorMessage(err), arena.ErrorCode(err)
		_, _ = a.cp.PushLogs(ctx, chunk)
		return
	}
	defer rc.Close()
	// An empty chunk says the output is open, before the container writes
	// anything: a quiet game server is no unanswering node.
	if more, err := a.cp.PushLogs(ctx, chunk); err != nil || !more {
		return
	}
	a.sendChunks(ctx, rc, chunk, func(err error) (string, string) {
		a.log.Warn("cannot read a session's output", "session", req.SessionID, "err", err)
		return arena.EUNAVAILABLE, "reading the container's output failed"
	})
}

// sendChunks sends what r yields in chunks until it ends, the control plane
// says nobody reads any more, or ctx ends. A read error ends the stream with
// the error code and message failed makes of it.
func (a *Agent) sendChunks(ctx context.Context, r io.Reader, chunk arena.LogChunk, failed func(error) (code, msg string)) {
	buf := make([]byte, logChunkSize)
	for {
		n, err := r.Read(buf)
		chunk.Data = buf[:n]
		if err != nil {
			chunk.EOF = true
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				chunk.Code, chunk.Error = failed(err)
			}
		}
		if n == 0 && !chunk.EOF {
			continue
		}
		more, perr := a.cp.PushLogs(ctx, chunk)
		if chunk.EOF || perr != nil || !more {
			return
		}
	}
}
