package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/dockpack/dockpack/internal/i18n"
)

// The admin page's files: plain HTML, CSS and JavaScript modules, no build
// step, nothing fetched from another origin (works offline and in a
// FROM-scratch image).
//
//go:embed ui
var uiFS embed.FS

// uiCSP is the page's Content-Security-Policy: its own scripts, styles,
// images and API only; no inline script or style, no framing, no forms
// posted anywhere.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiFiles serves the embedded files (a directory only through its index.html).
func uiFiles() http.Handler {
	sub, err := fs.Sub(uiFS, "ui")
	if err != nil {
		panic(err) // the embedded tree always has ui/
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p != "" && strings.HasSuffix(p, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// uiHeaders sets the page's security headers on every answer.
func uiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", uiCSP)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
		hdr.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// uiRedirect answers with a relative redirect (right under any mount prefix).
func uiRedirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusMovedPermanently)
	}
}

// uiMessagePrefix marks the catalogue's entries of the admin page.
const uiMessagePrefix = "ui."

// uiMessages serves GET /ui/i18n/{lang}.json: the page's messages (the
// catalogue's "ui.*" entries, fmt formats) in one language, with the
// supported languages. They hold no data, so they need no token.
func (h *handler) uiMessages(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	lang, known := i18n.Normalize(name)
	if !ok || !known || lang != name {
		h.fail(w, r, reqErr(http.StatusNotFound, CodeInvalidLang,
			"no messages "+truncate(r.PathValue("file"), 40)+": want one of "+strings.Join(i18n.Supported(), ".json, ")+".json"))
		return
	}
	msgs := map[string]string{}
	for _, k := range i18n.Keys(lang) {
		if strings.HasPrefix(k, uiMessagePrefix) {
			msgs[k] = i18n.T(lang, k)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"lang": lang, "languages": i18n.Supported(), "messages": msgs})
}
