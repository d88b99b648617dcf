package http

import (
	"net/http"
	"time"

	"github.com/arena-hq/arena"
)

// Starting returns the handler of a process that listens but cannot serve
// yet (its store loading, its node registering): every request is answered
// 503 with Retry-After and the contract's error body, so that a client
// retries instead of taking "location not found" for an answer. GET /healthz
// is 200, since the process is alive; GET /readyz is 503.
func Starting(retryAfter time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, r, http.StatusOK, struct {
			Status string `json:"status"`
		}{"ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", seconds(retryAfter))
		WriteJSON(w, r, http.StatusServiceUnavailable, Readiness{Status: "starting", Role: "none", Reason: "Arena is starting"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, &arena.Error{Code: arena.ENOTREADY, Message: "Arena is starting; retry shortly", RetryAfter: retryAfter})
	})
	return mux
}
