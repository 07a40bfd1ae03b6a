package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the settings tables in README.md and docs/configuration.md")

const (
	tableBegin = "<!-- settings:begin -->\n"
	tableEnd   = "<!-- settings:end -->"
)

// TestDocsListEverySetting keeps the configuration reference in the README
// and in docs/configuration.md equal to the settings table. Run
// `go test ./internal/config -update` after changing a setting.
func TestDocsListEverySetting(t *testing.T) {
	want := MarkdownTable()
	for _, s := range Settings() {
		for _, w := range []string{s.Flag(), s.Env(), "`" + s.Name + "`"} {
			if !strings.Contains(want, w) {
				t.Fatalf("MarkdownTable lacks %s", w)
			}
		}
	}
	for _, name := range []string{"README.md", "docs/configuration.md"} {
		path := filepath.Join("..", "..", filepath.FromSlash(name))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(data)
		i := strings.Index(doc, tableBegin)
		j := strings.Index(doc, tableEnd)
		if i < 0 || j < i {
			t.Fatalf("%s has no %q ... %q section", name, strings.TrimSpace(tableBegin), tableEnd)
		}
		got := doc[i+len(tableBegin) : j]
		if got == want {
			continue
		}
		if !*update {
			t.Errorf("%s: the settings table is out of date; run `go test ./internal/config -update`", name)
			continue
		}
		doc = doc[:i+len(tableBegin)] + want + doc[j:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
