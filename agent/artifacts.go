package agent

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/arena-hq/arena"
)

// Defaults of the artifact settings.
const (
	DefaultArtifactMaxBytes  = 100 << 20
	DefaultArtifactRetention = 24 * time.Hour
)

// errArtifactTooLarge marks a collection that went past ArtifactMaxBytes.
var errArtifactTooLarge = errors.New("the artifacts exceed the size cap")

func (a *Agent) artifactFile(sessionID string) string {
	return filepath.Join(a.cfg.ArtifactDir, sessionID+".tar.gz")
}

func (a *Agent) artifactErrorFile(sessionID string) string {
	return filepath.Join(a.cfg.ArtifactDir, sessionID+".error")
}

// collectArtifacts copies the session's artifact paths out of its stopped
// container into one .tar.gz in the artifact directory, entries named by
// their path in the container, before the container is removed. Past the
// size cap it keeps nothing but the reason, for the download to tell.
func (a *Agent) collectArtifacts(ctx context.Context, l *local) {
	if a.cfg.ArtifactDir == "" || len(l.artifacts) == 0 || l.containerID == "" {
		return
	}
	if err := os.MkdirAll(a.cfg.ArtifactDir, 0o700); err != nil {
		a.log.Error("cannot keep artifacts", "session", l.id, "err", err)
		return
	}
	os.Remove(a.artifactErrorFile(l.id)) // from an earlier try, cut short
	err := a.writeArtifacts(ctx, l)
	if err == nil || ctx.Err() != nil {
		return // kept; or the agent stops, and the next start tries again
	}
	os.Remove(a.artifactFile(l.id))
	msg := "the artifacts could not be kept"
	if errors.Is(err, errArtifactTooLarge) {
		msg = fmt.Sprintf("the artifacts exceed the cap of %d bytes and were not kept", a.cfg.ArtifactMaxBytes)
	}
	a.log.Warn("artifacts not kept", "session", l.id, "err", err)
	_ = os.WriteFile(a.artifactErrorFile(l.id), []byte(msg), 0o600)
}

func (a *Agent) writeArtifacts(ctx context.Context, l *local) error {
	f, err := os.CreateTemp(a.cfg.ArtifactDir, "."+l.id+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// The cap counts what reaches the disk, headers and all, so that many
	// empty files cannot fill it either.
	zw := gzip.NewWriter(&cappedWriter{w: f, left: a.cfg.ArtifactMaxBytes})
	tw := tar.NewWriter(zw)
	budget := a.cfg.ArtifactMaxBytes
	for _, p := range l.artifacts {
		rc, err := a.rt.CopyFrom(ctx, l.containerID, p)
		if arena.ErrorCode(err) == arena.ENOTFOUND {
			continue // the game server did not write it: nothing to keep
		} else if err != nil {
			return err
		}
		err = copyEntries(tw, tar.NewReader(rc), path.Dir(p), &budget)
		rc.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), a.artifactFile(l.id))
}

// cappedWriter fails with errArtifactTooLarge once more than left bytes
// were written.
type cappedWriter struct {
	w    io.Writer
	left int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if c.left -= int64(len(p)); c.left < 0 {
		return 0, errArtifactTooLarge
	}
	return c.w.Write(p)
}

// copyEntries copies a tar stream into tw with entry names made absolute by
// dir (without the leading slash), spending budget on their contents.
func copyEntries(tw *tar.Writer, tr *tar.Reader, dir string, budget *int64) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if *budget -= h.Size; *budget < 0 {
			return errArtifactTooLarge
		}
		h.Name = strings.TrimPrefix(path.Join(dir, h.Name), "/")
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// sendArtifact answers a request for the kept artifact at req.ArtifactPath:
// a .tar.gz of the entries at or below it, in chunks.
func (a *Agent) sendArtifact(ctx context.Context, req arena.LogRequest, chunk arena.LogChunk) {
	fail := func(code, msg string) {
		chunk.EOF, chunk.Code, chunk.Error = true, code, msg
		_, _ = a.cp.PushLogs(ctx, chunk)
	}
	if msg, err := os.ReadFile(a.artifactErrorFile(req.SessionID)); err == nil {
		// Nothing was kept; the file says why (over the cap, say).
		fail(arena.ENOTFOUND, string(msg))
		return
	}
	f, err := os.Open(a.artifactFile(req.SessionID))
	if err == nil {
		if info, serr := f.Stat(); serr == nil && a.expired(info) {
			// Past the retention, before the next pruning came to it.
			f.Close()
			os.Remove(f.Name())
			f, err = nil, fs.ErrNotExist
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		fail(arena.ENOTFOUND, "no artifacts were kept for this session")
		return
	} else if err != nil {
		a.log.Error("cannot read kept artifacts", "session", req.SessionID, "err", err)
		fail(arena.EINTERNAL, "the kept artifacts could not be read")
		return
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		a.log.Error("kept artifacts are damaged", "session", req.SessionID, "err", err)
		fail(arena.EINTERNAL, "the kept artifacts are damaged")
		return
	}
	want := strings.Trim(path.Clean(req.ArtifactPath), "/")
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		tw := tar.NewWriter(zw)
		tr := tar.NewReader(zr)
		found := false
		var err error
		for {
			var h *tar.Header
			if h, err = tr.Next(); err != nil {
				break
			}
			name := strings.TrimSuffix(h.Name, "/")
			if name != want && !strings.HasPrefix(name, want+"/") {
				continue
			}
			found = true
			if err = tw.WriteHeader(h); err != nil {
				break
			}
			if _, err = io.Copy(tw, tr); err != nil {
				break
			}
		}
		switch {
		case err != io.EOF:
			pw.CloseWithError(err)
		case !found:
			pw.CloseWithError(errNoArtifact)
		default:
			tw.Close()
			zw.Close()
			pw.Close()
		}
	}()
	defer pr.Close()
	a.sendChunks(ctx, pr, chunk, func(err error) (string, string) {
		if errors.Is(err, errNoArtifact) {
			return arena.ENOTFOUND, "no artifact was kept at " + req.ArtifactPath
		}
		a.log.Error("cannot read kept artifacts", "session", req.SessionID, "err", err)
		return arena.EINTERNAL, "the kept artifacts could not be read"
	})
}

var errNoArtifact = errors.New("no artifact at that path")

// pruneArtifacts removes the artifacts and the output of sessions that
// stopped longer ago than the retention time.
func (a *Agent) pruneArtifacts() {
	if a.cfg.ArtifactDir == "" {
		return
	}
	entries, err := os.ReadDir(a.cfg.ArtifactDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && a.expired(info) {
			os.Remove(filepath.Join(a.cfg.ArtifactDir, e.Name()))
		}
	}
}

// expired reports whether a file kept for a stopped session (artifacts,
// output) is past the retention time, counted from when it was written.
func (a *Agent) expired(info fs.FileInfo) bool {
	return time.Since(info.ModTime()) > a.cfg.ArtifactRetention
}
