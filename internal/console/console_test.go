package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := Handler(Env{Auth: true, Region: "eu-west-1", Metrics: true})

	r := get(t, h, http.MethodGet, "/console")
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d to %q, want a redirect to /console/", r.StatusCode, r.Header.Get("Location"))
	}

	r = get(t, h, http.MethodGet, "/console/")
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(body), `<script type="module" src="js/app.js">`) {
		t.Errorf("GET /console/: %d %.200s", r.StatusCode, body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	for path, ctype := range map[string]string{
		"/console/js/app.js":    "text/javascript",
		"/console/js/sha256.js": "text/javascript",
		"/console/style.css":    "text/css",
	} {
		r = get(t, h, http.MethodGet, path)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q, want 200 %s", path, r.StatusCode, r.Header.Get("Content-Type"), ctype)
		}
	}

	r = get(t, h, http.MethodGet, "/console/env.json")
	var env Env
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || env != (Env{Auth: true, Region: "eu-west-1", Metrics: true}) {
		t.Errorf("env.json: %+v, %v", env, err)
	}

	r = get(t, h, http.MethodHead, "/console/env.json")
	if body, _ := io.ReadAll(r.Body); r.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD env.json: %d with %d bytes", r.StatusCode, len(body))
	}

	for _, path := range []string{"/console/js/", "/console/missing.js", "/console/../health"} {
		if r := get(t, h, http.MethodGet, path); r.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200, want an error", path)
		}
	}
}

func TestServes(t *testing.T) {
	for path, want := range map[string]bool{
		"/console": true, "/console/": true, "/console/js/app.js": true,
		"/consoles": false, "/": false, "/health": false,
	} {
		if got := Serves(path); got != want {
			t.Errorf("Serves(%q) = %v, want %v", path, got, want)
		}
	}
}
