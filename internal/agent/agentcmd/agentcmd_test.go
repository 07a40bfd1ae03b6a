package agentcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorIsAUsageErrorNamingTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.json")
	os.WriteFile(p, []byte(`{"flows":[{"filePattern":"/var/log/a.log","kinesisStream":"s","maxBufferSizeRecords":0}]}`), 0o644)
	err := Run(context.Background(), "millrace-agent", []string{"--config", p}, &bytes.Buffer{}, &bytes.Buffer{})
	var ue UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "flows[0].maxBufferSizeRecords: must be between 1 and 500, got 0") {
		t.Errorf("Run = %v, want a usage error naming flows[0].maxBufferSizeRecords", err)
	}
	var stderr bytes.Buffer
	if code := Main([]string{"millrace-agent", "--config", p}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "Run 'millrace-agent --help'") {
		t.Errorf("Main: exit %d, stderr %q", code, stderr.String())
	}
	if err := Run(context.Background(), "millrace-agent", []string{"--bogus"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &ue) {
		t.Errorf("unknown flag: %v, want a usage error", err)
	}
}

func TestHelpNamesTheCommand(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), "millrace-agent", []string{"--help"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"millrace-agent --config agent.json [flags]", "-max-buffered-bytes", "-aggregate"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDoesNotLinkTheServer: the millrace-agent binary stays small (and its
// resident memory with it) only while this package leaves the server out.
func TestDoesNotLinkTheServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/millrace/millrace/cmd/millrace-agent").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, server := range []string{"/internal/server", "/internal/streams", "/internal/storage", "/internal/kinesis"} {
			if strings.HasSuffix(pkg, server) {
				t.Errorf("millrace-agent links %s", pkg)
			}
		}
	}
}
