package server

import (
	"net/http"
)

// HealthPath answers GET and HEAD with 200 {"status":"ok"} once the server
// serves requests.
const HealthPath = "/health"

const healthBody = `{"status":"ok"}` + "\n"

// routes puts the health check, and the metrics when metrics is not nil,
// in front of the AWS router. Only GET and HEAD on HealthPath and
// MetricsPath are answered here; AWS requests are POSTs and go to the
// router whatever their path.
func routes(api, metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch {
			case r.URL.Path == HealthPath:
				health(w, r)
				return
			case r.URL.Path == MetricsPath && metrics != nil:
				metrics.ServeHTTP(w, r)
				return
			}
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
