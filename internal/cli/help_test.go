package cli

import (
	"strings"
	"testing"
)

func TestHelpListsEveryCommandOnOneLine(t *testing.T) {
	want := []string{"serve", "version", "cert", "policy", "kms", "bench", "health", "tail", "put", "streams", "sql", "agent", "cluster", "backup", "restore", "help"}
	if len(commands) != len(want) {
		t.Fatalf("%d commands, want %d (%v)", len(commands), len(want), want)
	}
	_, out, _ := runCLI(t, nil, "--help")
	lines := strings.Split(out, "\n")
	for _, name := range want {
		c, ok := lookupCommand(name)
		if !ok {
			t.Fatalf("no command %q", name)
		}
		prefix := "  millrace " + name
		if name == "serve" {
			prefix = "  millrace [serve]"
		}
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, "  "+c.summary) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("--help has %d lines for %s with its summary %q, want 1:\n%s", n, name, c.summary, out)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		code, viaHelp, errOut := runCLI(t, nil, "help", c.name)
		if code != exitOK || errOut != "" || !strings.Contains(viaHelp, "Usage") {
			t.Errorf("help %s: exit %d, stderr %q, stdout %q", c.name, code, errOut, viaHelp)
		}
		if c.name == "help" {
			continue
		}
		code, viaFlag, errOut := runCLI(t, nil, c.name, "--help")
		if code != exitOK || errOut != "" || viaFlag != viaHelp {
			t.Errorf("%s --help: exit %d, stderr %q; output differs from help %s:\n%s\n---\n%s", c.name, code, errOut, c.name, viaFlag, viaHelp)
		}
	}
	if code, _, errOut := runCLI(t, nil, "help", "nope"); code != exitUsage || !strings.Contains(errOut, `no help for unknown command "nope"`) {
		t.Errorf("help nope: exit %d, %q", code, errOut)
	}
}
