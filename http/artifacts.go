package http

import (
	"context"
	"io"
	"net/http"
	"path"

	"github.com/arena-hq/arena"
)

// artifact downloads a file or folder kept when a session stopped, as a
// .tar.gz. The first bytes are read before the status is sent, so that a
// missing artifact is a 404 rather than an empty download.
func (s *api) artifact(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	q := r.URL.Query()
	var v violations
	id, p := q.Get("session"), q.Get("path")
	if id == "" {
		v.add("session", "is required")
	} else if err := arena.ValidateSessionID(id); err != nil {
		v.add("session", arena.ErrorViolations(err)[0].Description)
	}
	if p == "" || p[0] != '/' || len(p) > 4096 || path.Clean(p) == "/" {
		v.add("path", "must be an absolute path below / in the container")
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	rc, err := s.sessions.Artifact(r.Context(), tok.OrgID, id, path.Clean(p))
	if err != nil {
		return err
	}
	defer rc.Close()
	stop := context.AfterFunc(r.Context(), func() { rc.Close() })
	defer stop()
	buf := make([]byte, 32<<10)
	n, err := io.ReadFull(rc, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return err
	}
	// Up to artifactMaxMb at the client's pace: each write, not the whole
	// download, has the server's write timeout.
	w = Stream(w, r)
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", `attachment; filename="artifact.tar.gz"`)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf[:n]); err != nil {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		// The status is sent: reset the connection so that the caller sees
		// a cut download, not a complete one.
		s.logger.WarnContext(r.Context(), "artifact download ended early", "request_id", infoFrom(r.Context()).id, "session", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
