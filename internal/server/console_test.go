package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

func TestConsoleServed(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t)

	resp, body := get(t, http.MethodGet, s.URL+"/console/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Millrace console") {
		t.Fatalf("GET /console/ = %d %.200q", resp.StatusCode, body)
	}
	resp, body = get(t, http.MethodGet, s.URL+"/console/env.json")
	if resp.StatusCode != http.StatusOK || body != `{"auth":false,"region":"us-east-1","metrics":true}` {
		t.Fatalf("GET /console/env.json = %d %q", resp.StatusCode, body)
	}

	// A POST to /console is an AWS request like any other.
	r, err := http.Post(s.URL+"/console/", "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode == http.StatusOK || strings.Contains(string(b), "<html") {
		t.Fatalf("POST /console/ = %d %q, want an AWS error", r.StatusCode, b)
	}
}

func TestConsoleEnvFollowsTheConfig(t *testing.T) {
	noLeaks(t)
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth = config.AuthOn
		c.Region = "eu-central-1"
		c.MetricsListen = "127.0.0.1:0"
		c.IAM = &config.IAM{Accounts: []config.Account{{ID: "111122223333", AccessKeys: []config.AccessKey{{ID: "AKIAENVEXAMPLE000001", Secret: "s"}}}}}
	})
	resp, body := get(t, http.MethodGet, s.URL+"/console/env.json")
	if resp.StatusCode != http.StatusOK || body != `{"auth":true,"region":"eu-central-1","metrics":false}` {
		t.Fatalf("GET /console/env.json = %d %q", resp.StatusCode, body)
	}
	// The metrics listener serves /metrics and /health only.
	resp, _ = get(t, http.MethodGet, s.Server().MetricsURL()[:len(s.Server().MetricsURL())-len("/metrics")]+"/console/")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /console/ on the metrics listener = %d, want 404", resp.StatusCode)
	}
}
