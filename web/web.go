// Package web is Arena's admin panel: static files embedded in the binary,
// served by arena server and arena dev under /ui/. The panel is a client of
// the public API alone (the Session API and /admin/v1), signed in with a
// token the browser keeps for the tab's life; it needs no build step.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Prefix is the path the panel is served under.
const Prefix = "/ui/"

// Handler serves the panel under Prefix.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The panel holds an API token: it must not be framed by another
		// site, and it loads nothing from anywhere else.
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
