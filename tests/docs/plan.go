package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/iam"
)

// Kind is how a block is checked.
type Kind int

const (
	KindNotRun Kind = iota // marked "not run"
	KindShell              // sh: run with bash against a server
	KindPython             // python: run with python3 against a server
	KindGo                 // go: wrapped in a harness, run with go run against a server
	KindConfig             // toml, yaml: loaded with the server's config loader
	KindPolicy             // json: parsed with the server's IAM policy parser
	KindOutput             // "output of": compared with a command's output
	KindGoTest             // go: a whole _test.go file, run with go test
)

func (k Kind) String() string {
	return [...]string{"not run", "sh", "python", "go", "config", "policy", "output", "go test"}[k]
}

// harnessExt is the extension of a harness template for a kind.
var harnessExt = map[Kind]string{KindShell: ".sh.tmpl", KindPython: ".py.tmpl", KindGo: ".go.tmpl"}

// harnessMarker is the line of a harness template that the block replaces.
const harnessMarker = "{{example}}"

// Plan says how a block is checked, or why it cannot be: a block the runner
// does not know how to run must be marked "not run" with a reason, so that
// no example slips into the docs untested.
func Plan(root string, b Block) (Kind, error) {
	d := b.Directive
	if d == nil {
		d = &Directive{Exit: -1}
	}
	if d.NotRun != "" {
		return KindNotRun, nil
	}
	var k Kind
	switch {
	case d.OutputOf != "":
		k = KindOutput
	case b.Lang == "sh" || b.Lang == "bash" || b.Lang == "shell":
		k = KindShell
	case b.Lang == "python" || b.Lang == "py":
		k = KindPython
	case b.Lang == "go" && isTestFile(b.Text):
		k = KindGoTest
	case b.Lang == "go":
		k = KindGo
	case b.Lang == "toml" || b.Lang == "yaml" || b.Lang == "yml":
		k = KindConfig
	case b.Lang == "json":
		k = KindPolicy
	default:
		lang := b.Lang
		if lang == "" {
			lang = "(no language)"
		}
		return 0, fmt.Errorf("%s: the docs runner cannot run a ```%s block: give it a language it runs (sh, python, go, toml, yaml, json), "+
			"an `output of` clause, or mark it <!-- example: not run: REASON -->", b.ID(), lang)
	}
	bad := func(format string, args ...any) (Kind, error) {
		return 0, fmt.Errorf("%s: %s", b.ID(), fmt.Sprintf(format, args...))
	}
	n := len(b.Lines())
	if k != KindShell && (d.ServerLine != 0 || d.SkipLines != nil) {
		return bad("server on line and skip line apply to sh blocks only")
	}
	if d.ServerLine != 0 && (d.ServerLine < 1 || d.ServerLine > n) {
		return bad("server on line %d: the block has %d lines", d.ServerLine, n)
	}
	for l := range d.SkipLines {
		if l < 1 || l > n || l == d.ServerLine {
			return bad("skip line %d: no such line, or it is the server's", l)
		}
	}
	if d.SavedAs != "" && k != KindConfig && k != KindPolicy {
		return bad("saved as applies to toml, yaml and json blocks only")
	}
	if d.ResourcePolicy && k != KindPolicy {
		return bad("resource policy applies to json blocks only")
	}
	if d.Harness != "" {
		ext, ok := harnessExt[k]
		if !ok {
			return bad("a %s block takes no harness", k)
		}
		data, err := os.ReadFile(filepath.Join(root, "tests", "docs", "harness", d.Harness+ext))
		if err != nil {
			return bad("harness %s: %v", d.Harness, err)
		}
		if strings.Count(string(data), harnessMarker+"\n") != 1 {
			return bad("harness %s: the template must have exactly one %s line", d.Harness, harnessMarker)
		}
	} else if k == KindGo {
		return bad("a go block is a fragment: name the harness that makes it a program (<!-- example: harness NAME -->, tests/docs/harness/NAME.go.tmpl)")
	}
	return k, nil
}

// isTestFile reports whether a go block is a whole test file: an external
// test package with at least one test function.
func isTestFile(text string) bool {
	pkg, _, _ := strings.Cut(text, "\n")
	return strings.HasPrefix(pkg, "package ") && strings.HasSuffix(strings.TrimSpace(pkg), "_test") &&
		strings.Contains(text, "\nfunc Test")
}

// CheckConfig loads a toml or yaml block as the server loads --config: the
// file, then validation of every setting, then the users' and groups'
// policies.
func CheckConfig(b Block) error {
	ext := ".toml"
	if b.Lang != "toml" {
		ext = ".yaml"
	}
	dir, err := os.MkdirTemp("", "millrace-docs-config")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "millrace"+ext)
	if err := os.WriteFile(path, []byte(b.Text), 0o600); err != nil {
		return err
	}
	cfg := config.Default()
	if err := config.LoadFile(path, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if _, err := iam.NewDirectory(cfg); err != nil {
		return err
	}
	return nil
}

// CheckPolicy parses a json block with the server's IAM policy parser, as
// an identity policy or, with the "resource policy" clause, as a resource
// policy (PutResourcePolicy).
func CheckPolicy(b Block) error {
	kind := iam.IdentityPolicy
	if b.Directive != nil && b.Directive.ResourcePolicy {
		kind = iam.ResourcePolicy
	}
	_, err := iam.Parse(b.Text, kind)
	return err
}

// CheckStatic plans every block and checks the ones that need no server
// (config files and policies). It is what the unit tests run.
func CheckStatic(root string, blocks []Block) error {
	var errs []error
	for _, b := range blocks {
		k, err := Plan(root, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch k {
		case KindConfig:
			err = CheckConfig(b)
		case KindPolicy:
			err = CheckPolicy(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// DocFiles are the Markdown files whose examples are run: README.md and
// docs/*.md.
func DocFiles(root string) ([]string, error) {
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, f := range more {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return nil, err
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files, nil
}

// LoadBlocks parses every doc file's blocks.
func LoadBlocks(root string) ([]Block, error) {
	files, err := DocFiles(root)
	if err != nil {
		return nil, err
	}
	var all []Block
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		bs, err := ParseMarkdown(f, string(data))
		if err != nil {
			return nil, err
		}
		all = append(all, bs...)
	}
	return all, nil
}
