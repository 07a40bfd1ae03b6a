package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/server/servertest"
)

func TestAgentConfigErrorNamesTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.json")
	os.WriteFile(p, []byte(`{"flows":[{"filePattern":"/var/log/a.log","kinesisStream":"s","maxBufferSizeRecords":501}]}`), 0o644)
	code, _, errOut := runCLI(t, nil, "agent", "--config", p)
	if code != exitUsage || !strings.Contains(errOut, "flows[0].maxBufferSizeRecords: must be between 1 and 500, got 501") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "agent", "--config", filepath.Join(t.TempDir(), "missing.json"))
	if code != exitUsage || !strings.Contains(errOut, "missing.json") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestAgentServesMetricsAndStopsOnCancel(t *testing.T) {
	srv := servertest.Start(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.json")
	os.WriteFile(p, []byte(`{"kinesis.endpoint":"`+srv.URL+`","kinesis.region":"us-east-1",
		"awsAccessKeyId":"`+servertest.AccessKeyID+`","awsSecretAccessKey":"`+servertest.SecretAccessKey+`",
		"checkpointFile":"`+filepath.Join(dir, "cp")+`","cloudwatch.emitMetrics":false,
		"flows":[{"filePattern":"`+filepath.Join(dir, "*.log")+`","kinesisStream":"s"}]}`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"millrace", "agent", "--config", p, "--metrics-listen", "127.0.0.1:0"}, io.Discard, &stderr, func(string) (string, bool) { return "", false })
	}()
	addr := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		if m = addr.FindStringSubmatch(stderr.String()); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no metrics address logged:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte("millrace_agent_lines_read_total")) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %v\n%s", err, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"millrace_agent_records_sent_total 0", "millrace_agent_backlog_bytes{flow="} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after cancel:\n%s", code, stderr.String())
	}
}
