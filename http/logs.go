package http

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/arena-hq/arena"
)

// logs streams a session's output as text/plain, flushing as it comes, until
// it ends or the caller goes away.
func (s *api) logs(w http.ResponseWriter, r *http.Request, tok *arena.Token) error {
	q := r.URL.Query()
	var v violations
	id := q.Get("id")
	if id == "" {
		v.add("id", "is required")
	} else if err := arena.ValidateSessionID(id); err != nil {
		v.add("id", arena.ErrorViolations(err)[0].Description)
	}
	follow := false
	if f := q.Get("follow"); f != "" {
		var err error
		if follow, err = strconv.ParseBool(f); err != nil {
			v.add("follow", "must be true or false")
		}
	}
	if len(v) > 0 {
		return arena.Invalid(v...)
	}
	rc, err := s.sessions.Logs(r.Context(), tok.OrgID, id, follow)
	if err != nil {
		return err
	}
	defer rc.Close()
	stop := context.AfterFunc(r.Context(), func() { rc.Close() })
	defer stop()

	// A followed log lasts as long as the session: each write, not the
	// whole answer, has the server's write timeout.
	w = Stream(w, r)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rcw := http.NewResponseController(w)
	// The status goes at once, so that a follower of a quiet session knows
	// the stream is open.
	_ = rcw.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // the caller went away
			}
			_ = rcw.Flush()
		}
		if err != nil {
			if r.Context().Err() == nil && !errors.Is(err, io.EOF) {
				// The status is sent: reset the connection so that the
				// caller sees the output cut short, not a clean end.
				s.logger.WarnContext(r.Context(), "session output ended early", "request_id", infoFrom(r.Context()).id, "session", id, "err", err)
				panic(http.ErrAbortHandler)
			}
			return nil
		}
	}
}
