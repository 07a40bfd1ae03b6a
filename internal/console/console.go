// Package console is Millrace's web console: static HTML, CSS and
// JavaScript modules embedded in the binary and served under Path. The
// console is an ordinary API client: it signs its Kinesis requests with
// SigV4 in the browser, with credentials the user types in, and reads
// /metrics and /health like any scraper. The server hands it nothing but
// its files and Env.
package console

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

// Path is where the console is served (GET and HEAD only; AWS requests
// are POSTs and go to the API whatever their path).
const Path = "/console"

//go:embed static
var static embed.FS

// Env is what the console learns from the server at Path/env.json: no
// secret, only what shapes the login form and the charts.
type Env struct {
	// Auth is whether requests must be signed with declared credentials;
	// without it the login form is prefilled with AWS's example key.
	Auth bool `json:"auth"`
	// Region is the server's default region, the one the console signs for
	// unless the user picks another.
	Region string `json:"region"`
	// Metrics is whether /metrics is served on the console's listener.
	Metrics bool `json:"metrics"`
}

// Handler serves the console's files and env.json under Path.
func Handler(env Env) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Path, http.FileServerFS(sub))
	envJSON, err := json.Marshal(env)
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Same-origin only: the console's own files, its API calls to
		// this origin, no framing.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == Path:
			http.Redirect(w, r, Path+"/", http.StatusMovedPermanently)
		case r.URL.Path == Path+"/env.json":
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			if r.Method != http.MethodHead {
				_, _ = w.Write(envJSON)
			}
		case strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != Path+"/":
			http.NotFound(w, r) // no directory listings
		default:
			files.ServeHTTP(w, r)
		}
	})
}

// Serves reports whether path is the console's.
func Serves(path string) bool {
	return path == Path || strings.HasPrefix(path, Path+"/")
}
