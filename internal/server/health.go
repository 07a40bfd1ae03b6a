package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/millrace/millrace/internal/config"
	webconsole "github.com/millrace/millrace/internal/console"
)

// HealthPath answers GET and HEAD with 200 {"status":"ok"} once the server
// serves requests; a cluster node answers 503 {"status":"no-quorum"} while
// it cannot reach a quorum of the cluster's JetStream servers.
const HealthPath = "/health"

const healthBody = `{"status":"ok"}` + "\n"

// routes puts the health check, the metrics when metrics is not nil and
// the console when console is not nil in front of the AWS router. Only GET
// and HEAD on HealthPath, MetricsPath and the console's paths are answered
// here; AWS requests are POSTs and go to the router whatever their path.
func routes(api, metrics, console http.Handler, quorum func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch {
			case r.URL.Path == HealthPath:
				health(w, r, quorum)
				return
			case r.URL.Path == MetricsPath && metrics != nil:
				metrics.ServeHTTP(w, r)
				return
			case console != nil && webconsole.Serves(r.URL.Path):
				console.ServeHTTP(w, r)
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}

func health(w http.ResponseWriter, r *http.Request, quorum func(context.Context) error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if quorum != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		err := quorum(ctx)
		cancel()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			if r.Method != http.MethodHead {
				b, _ := json.Marshal(map[string]string{"status": "no-quorum", "error": err.Error()})
				_, _ = w.Write(append(b, '\n'))
			}
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(healthBody))
	}
}

// consoleHandler is the web console for the API listeners; metrics says
// whether they serve /metrics, which the console's charts read.
func consoleHandler(cfg config.Config, metrics bool) http.Handler {
	return webconsole.Handler(webconsole.Env{
		Auth:    cfg.AuthEnabled(),
		Region:  cfg.Region,
		Metrics: metrics,
	})
}
