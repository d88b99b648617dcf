package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/arena-hq/arena"
)

// logChunkSize bounds one chunk of output sent to the control plane.
const logChunkSize = 32 << 10

// DefaultLogMaxBytes is how much of a stopped session's output is kept by
// default: its last 10 MiB.
const DefaultLogMaxBytes = 10 << 20

// keepLogsTimeout bounds copying a stopped container's output to disk: the
// engine's log files of a container hold at most about 20 MB.
const keepLogsTimeout = 2 * time.Minute

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
	if f, err := a.openKeptLogs(req.SessionID); f != nil || err != nil {
		// The session stopped: its container is gone or about to be, and
		// what it wrote was kept. A follow ends with it, as it would have
		// when the container stopped.
		a.sendKeptLogs(ctx, req, chunk, f, err)
		return
	}
	name := (&arena.Session{ID: req.SessionID}).ContainerName()
	rc, err := a.rt.Logs(ctx, name, req.Follow)
	if arena.ErrorCode(err) == arena.ENOTFOUND {
		// No container and nothing kept (kept output past its retention,
		// or a node without an artifact directory).
		err = arena.Errorf(arena.ENOTFOUND, "no output of this session is kept on its node")
	}
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

func (a *Agent) logFile(sessionID string) string {
	return filepath.Join(a.cfg.ArtifactDir, sessionID+".log")
}

// keepLogs copies the last LogMaxBytes of what the session's container wrote
// to stdout and stderr, over all its runs (the engine keeps one container
// across restarts), into the artifact directory before the container is
// removed, so that a crash can be looked into after it. It keeps it under
// the artifacts' retention. A session whose output is kept already (by an
// earlier try cut short before the removal) keeps that.
func (a *Agent) keepLogs(ctx context.Context, sessionID, container string) {
	if a.cfg.ArtifactDir == "" || container == "" {
		return
	}
	if _, err := os.Stat(a.logFile(sessionID)); err == nil {
		return
	}
	if err := os.MkdirAll(a.cfg.ArtifactDir, 0o700); err != nil {
		a.log.Error("cannot keep a session's output", "session", sessionID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, keepLogsTimeout)
	defer cancel()
	err := a.writeLogs(ctx, sessionID, container)
	if err != nil && arena.ErrorCode(err) != arena.ENOTFOUND && a.ctx.Err() == nil {
		a.log.Warn("a session's output was not kept", "session", sessionID, "err", err)
	}
}

func (a *Agent) writeLogs(ctx context.Context, sessionID, container string) error {
	rc, err := a.rt.Logs(ctx, container, false)
	if err != nil {
		return err
	}
	defer rc.Close()
	all, err := os.CreateTemp(a.cfg.ArtifactDir, "."+sessionID+".*")
	if err != nil {
		return err
	}
	defer os.Remove(all.Name())
	defer all.Close()
	size, err := io.Copy(all, rc)
	if err != nil {
		return err
	}
	out := all
	if size > a.cfg.LogMaxBytes {
		// Only the end is kept, from the first whole line in it: the
		// output that led to the end is what a crash is looked into for.
		if out, err = os.CreateTemp(a.cfg.ArtifactDir, "."+sessionID+".*"); err != nil {
			return err
		}
		defer os.Remove(out.Name())
		defer out.Close()
		if err := copyTail(out, all, size, a.cfg.LogMaxBytes); err != nil {
			return err
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), a.logFile(sessionID))
}

// copyTail copies the last max bytes of f, size bytes long, to w, starting
// after the first line break within them (if one comes soon enough) so that
// the kept output does not begin mid-line.
func copyTail(w io.Writer, f *os.File, size, max int64) error {
	r := bufio.NewReaderSize(io.NewSectionReader(f, size-max, max), 64<<10)
	if head, err := r.Peek(64 << 10); err == nil || errors.Is(err, io.EOF) {
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			_, _ = r.Discard(i + 1)
		}
	}
	_, err := io.Copy(w, r)
	return err
}

// openKeptLogs opens the kept output of a session: nil without error when
// there is none, which is every running session's case. Output past its
// retention is gone, even before the next pruning removes the file.
func (a *Agent) openKeptLogs(sessionID string) (*os.File, error) {
	if a.cfg.ArtifactDir == "" {
		return nil, nil
	}
	f, err := os.Open(a.logFile(sessionID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || a.expired(info) {
		f.Close()
		if err != nil {
			return nil, err
		}
		os.Remove(f.Name())
		return nil, nil
	}
	return f, nil
}

// sendKeptLogs sends the kept output f, or the reason it cannot be read.
func (a *Agent) sendKeptLogs(ctx context.Context, req arena.LogRequest, chunk arena.LogChunk, f *os.File, err error) {
	if err != nil {
		a.log.Error("cannot read a session's kept output", "session", req.SessionID, "err", err)
		chunk.EOF, chunk.Code, chunk.Error = true, arena.EINTERNAL, "the kept output could not be read"
		_, _ = a.cp.PushLogs(ctx, chunk)
		return
	}
	defer f.Close()
	if more, err := a.cp.PushLogs(ctx, chunk); err != nil || !more {
		return
	}
	a.sendChunks(ctx, f, chunk, func(err error) (string, string) {
		a.log.Error("cannot read a session's kept output", "session", req.SessionID, "err", err)
		return arena.EINTERNAL, "the kept output could not be read"
	})
}
