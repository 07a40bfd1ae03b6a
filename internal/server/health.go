package server

import (
	"net/http"
)

// HealthPath answers GET and HEAD with 200 {"status":"ok"} once the server
// serves requests.
const HealthPath = "/health"

const healthBody = `{"status":"ok"}` + "\n"

// routes puts the health check in front of the AWS router. Only GET and
// HEAD on HealthPath are answered here; AWS requests are POSTs and go to
// the router whatever their path.
func routes(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			health(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(healthBody))
	}
}
