package awsproto_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
)

type noKeys struct{}

func (noKeys) SigningKey(string) (*awsproto.SigningKey, bool) { return nil, false }

type recordingAuthorizer struct{ seen []string }

func (a *recordingAuthorizer) Authorize(_ context.Context, info *awsproto.RequestInfo, req awsproto.AuthzRequest) error {
	a.seen = append(a.seen, info.Principal.ARN+" "+req.Action)
	return nil
}

// TestInProcessCaller: a role session's context is honoured only on
// requests InProcess delivers; the same context on a request from the
// network, or handed to the router directly, authenticates as usual.
func TestInProcessCaller(t *testing.T) {
	authz := &recordingAuthorizer{}
	var completed []string
	r := awsproto.NewRouter(awsproto.RouterOptions{Keys: noKeys{}, Authorizer: authz,
		OnComplete: func(_ context.Context, info *awsproto.RequestInfo, _ []byte, _ any, err *awsproto.Error) {
			who := "-"
			if info.Principal != nil {
				who = info.Principal.ARN + " by " + info.Principal.InvokedBy
			}
			code := ""
			if err != nil {
				code = err.Code
			}
			completed = append(completed, who+" "+code)
		}})
	r.Register("Kinesis_20131202", "1.1", map[string]awsproto.Handler{
		"ListStreams": func(ctx context.Context, _ []byte) (any, error) {
			if err := awsproto.Authorize(ctx, awsproto.AuthzRequest{Action: "kinesis:ListStreams", Resource: "*"}); err != nil {
				return nil, err
			}
			return map[string]any{"Caller": awsproto.Info(ctx).Principal.ARN}, nil
		},
	})
	session := &awsproto.Principal{Type: "AssumedRole", ARN: "arn:aws:sts::111122223333:assumed-role/r/s", AccountID: "111122223333", InvokedBy: "firehose.amazonaws.com"}
	ctx := awsproto.WithCaller(context.Background(), session)
	call := func(c *http.Client, url string, ctx context.Context) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	inproc := &http.Client{Transport: awsproto.InProcess(r)}
	if code, body := call(inproc, "http://millrace.internal/", ctx); code != 200 || !strings.Contains(body, session.ARN) {
		t.Fatalf("in-process as the session: %d %s", code, body)
	}
	if code, body := call(inproc, "http://millrace.internal/", context.Background()); code == 200 || !strings.Contains(body, "MissingAuthenticationToken") {
		t.Fatalf("in-process without a caller: %d %s", code, body)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	if code, body := call(srv.Client(), srv.URL, ctx); code == 200 {
		t.Fatalf("a network request was made as the session: %s", body)
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.ServeHTTP(w, req)
	if w.Code == 200 {
		t.Fatalf("a request not delivered by InProcess was made as the session: %s", w.Body)
	}
	if len(authz.seen) != 1 || authz.seen[0] != session.ARN+" kinesis:ListStreams" {
		t.Fatalf("authorized %q", authz.seen)
	}
	if len(completed) != 4 || completed[0] != session.ARN+" by firehose.amazonaws.com " {
		t.Fatalf("completed %q", completed)
	}
}
