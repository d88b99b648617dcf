package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest("GET", target, nil))
	return w
}

func TestHandlerServesIndex(t *testing.T) {
	w := get(t, Prefix)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", Prefix, w.Code)
	}
	if !strings.Contains(w.Body.String(), `<script type="module" src="js/main.js">`) {
		t.Fatalf("GET %s is not the panel's index.html:\n%s", Prefix, w.Body)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// With X-Content-Type-Options: nosniff a browser runs a module only when it
// is served as JavaScript, and applies a stylesheet only when it is CSS.
func TestHandlerContentTypes(t *testing.T) {
	for file, want := range map[string]string{
		"js/main.js": "text/javascript",
		"app.css":    "text/css",
		"icon.svg":   "image/svg+xml",
	} {
		w := get(t, Prefix+file)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %q, want 200 %s", file, w.Code, w.Header().Get("Content-Type"), want)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", file)
		}
	}
	if w := get(t, Prefix+"nothing.js"); w.Code != http.StatusNotFound {
		t.Errorf("GET a missing file: %d", w.Code)
	}
}

var (
	htmlRef   = regexp.MustCompile(`\b(?:src|href)="([^"]*)"`)
	jsImport  = regexp.MustCompile(`(?m)(?:^\s*import\s+(?:[^'";]*?\s+from\s+)?|\bimport\(\s*)['"]([^'"]+)['"]`)
	cssURL    = regexp.MustCompile(`url\(\s*['"]?([^'")]+)['"]?\s*\)`)
	inlineJS  = regexp.MustCompile(`<script\b[^>]*>\s*[^<\s]`)
	inlineAtt = regexp.MustCompile(`\s(?:style|on[a-z]+)\s*=`)
	// Markup built from strings is how API-provided text would end up as
	// HTML; the panel builds every node with the DOM (dom.js).
	unsafeJS = regexp.MustCompile(`\.(?:innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(`)
)

// static returns the embedded tree as the handler serves it.
func staticFS(t *testing.T) fs.FS {
	t.Helper()
	sub, err := fs.Sub(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestReferencesExist follows every file the HTML, the modules and the
// stylesheet refer to, and checks that the embedded tree has it, and that
// every module is reachable from index.html (a stray one is dead code).
func TestReferencesExist(t *testing.T) {
	files := staticFS(t)
	reached := map[string]bool{}
	var visit func(from, ref string)
	visit = func(from, ref string) {
		if ref == "" || strings.HasPrefix(ref, "#") || strings.Contains(ref, ":") {
			return // in-page anchors, data: and other schemes load nothing from here
		}
		name := path.Clean(path.Join(path.Dir(from), ref))
		if strings.HasPrefix(ref, "/") {
			t.Errorf("%s refers to %q: use a relative path, the panel is served under %s", from, ref, Prefix)
			return
		}
		if reached[name] {
			return
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			t.Errorf("%s refers to %q, which is not embedded: %v", from, ref, err)
			return
		}
		reached[name] = true
		var refs [][]string
		switch path.Ext(name) {
		case ".html":
			refs = htmlRef.FindAllStringSubmatch(string(data), -1)
		case ".js":
			refs = jsImport.FindAllStringSubmatch(string(data), -1)
		case ".css":
			refs = cssURL.FindAllStringSubmatch(string(data), -1)
		}
		for _, m := range refs {
			visit(name, m[1])
		}
	}
	reached["index.html"] = false
	visit(".", "index.html")
	for _, want := range []string{"app.css", "js/main.js", "js/sessions.js", "js/logs.js", "js/usage.js", "js/tokens.js"} {
		if !reached[want] {
			t.Errorf("%s is not reached from index.html", want)
		}
	}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !reached[name] {
			t.Errorf("%s is embedded but nothing refers to it", name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoInlineCode keeps the panel within its Content-Security-Policy (no
// inline script, style or handler would run) and its escaping rule.
func TestNoInlineCode(t *testing.T) {
	files := staticFS(t)
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		text := string(data)
		switch path.Ext(name) {
		case ".html":
			if m := inlineJS.FindString(text); m != "" {
				t.Errorf("%s has an inline script: %q", name, m)
			}
			if strings.Contains(text, "<style") {
				t.Errorf("%s has an inline stylesheet", name)
			}
			if m := inlineAtt.FindString(text); m != "" {
				t.Errorf("%s has an inline style or handler attribute: %q", name, m)
			}
		case ".js":
			for i, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				if m := unsafeJS.FindString(line); m != "" {
					t.Errorf("%s:%d uses %s: build nodes with dom.js instead", name, i+1, m)
				}
				if strings.Contains(line, "setAttribute('style'") || strings.Contains(line, "style:") {
					t.Errorf("%s:%d sets an inline style, which the policy blocks: use a class", name, i+1)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
