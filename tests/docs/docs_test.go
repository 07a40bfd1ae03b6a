package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExamplesAreRunnable keeps every fenced block of README.md and
// docs/*.md runnable by the docs runner or marked "not run" with a reason,
// and checks the blocks that need no server: config files load and
// validate with the server's loader, policies parse. The blocks that need
// a server run in CI (go run ./tests/docs).
func TestDocsExamplesAreRunnable(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := LoadBlocks(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) == 0 {
		t.Fatal("no fenced blocks found in README.md and docs/*.md")
	}
	if err := CheckStatic(root, blocks); err != nil {
		t.Fatal(err)
	}
}

func TestParseMarkdown(t *testing.T) {
	doc := "# Title\n\n" +
		"<!-- example: server on line 1; skip line 2: slow; replace `a;b` with `c` -->\n" +
		"```sh\nmillrace\nsleep 100\n```\n\n" +
		"Text.\n\n" +
		"  ```Python title\n  print(1)\n    print(2)\n  ```\n\n" +
		"- a list\n\n    continued in the list\n\n" +
		"````md\n```\nnested\n```\n````\n"
	blocks, err := ParseMarkdown("x.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("got %d blocks, want 3: %+v", len(blocks), blocks)
	}
	b := blocks[0]
	if b.Line != 4 || b.Lang != "sh" || b.Text != "millrace\nsleep 100\n" || b.Directive == nil {
		t.Fatalf("first block: %+v", b)
	}
	d := b.Directive
	if d.ServerLine != 1 || d.SkipLines[2] != "slow" || len(d.Replace) != 1 || d.Replace[0] != [2]string{"a;b", "c"} || d.Exit != -1 {
		t.Fatalf("directive: %+v", d)
	}
	if b := blocks[1]; b.Lang != "python" || b.Text != "print(1)\n  print(2)\n" || b.Directive != nil {
		t.Fatalf("second block: %+v", b)
	}
	if b := blocks[2]; b.Lang != "md" || b.Text != "```\nnested\n```\n" {
		t.Fatalf("third block: %+v", b)
	}
}

func TestParseMarkdownRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"indented code block", "Text.\n\n    millrace bench\n", "indented code block"},
		{"comment without a block", "<!-- example: not run: x -->\nText.\n", "not followed by a fenced code block"},
		{"comment at the end", "<!-- example: not run: x -->\n", "not followed by a fenced code block"},
		{"unclosed fence", "```sh\nls\n", "never closed"},
		{"unknown clause", "<!-- example: run fast -->\n```sh\nls\n```\n", `unknown clause "run fast"`},
		{"not run with more", "<!-- example: not run: x; timeout 1m -->\n```sh\nls\n```\n", "stands alone"},
		{"exit alone", "<!-- example: exit 2 -->\n```\nx\n```\n", "needs"},
		{"bad timeout", "<!-- example: timeout soon -->\n```sh\nls\n```\n", "bad timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMarkdown("x.md", tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, doc string
		want      Kind
		err       string
	}{
		{"sh", "```sh\nls\n```\n", KindShell, ""},
		{"python", "```python\nprint(1)\n```\n", KindPython, ""},
		{"toml", "```toml\nlisten = \"127.0.0.1:1\"\n```\n", KindConfig, ""},
		{"json", "```json\n{}\n```\n", KindPolicy, ""},
		{"output", "<!-- example: output of `millrace version` -->\n```\nx\n```\n", KindOutput, ""},
		{"marked java", "<!-- example: not run: no Java SDK -->\n```java\nx\n```\n", KindNotRun, ""},
		{"unmarked java", "```java\nx\n```\n", 0, "cannot run a ```java block"},
		{"unmarked plain", "```\nx\n```\n", 0, "cannot run a ```(no language) block"},
		{"go without harness", "```go\nx := 1\n```\n", 0, "name the harness"},
		{"missing harness", "<!-- example: harness no-such-harness -->\n```go\nx := 1\n```\n", 0, "harness no-such-harness"},
		{"server line past the end", "<!-- example: server on line 3 -->\n```sh\nmillrace\n```\n", 0, "has 1 lines"},
		{"server line in python", "<!-- example: server on line 1 -->\n```python\nx\n```\n", 0, "sh blocks only"},
		{"saved sh", "<!-- example: saved as `x.sh` -->\n```sh\nls\n```\n", 0, "toml, yaml and json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := ParseMarkdown("x.md", tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			k, err := Plan(root, blocks[0])
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || k != tc.want {
				t.Fatalf("got %v, %v; want %v", k, err, tc.want)
			}
		})
	}
}

func TestCheckConfigAndPolicyFail(t *testing.T) {
	for _, b := range []Block{
		{Lang: "toml", Text: "lisen = \"127.0.0.1:4567\"\n"},
		{Lang: "yaml", Text: "account-id: 123456789012\n"},
		{Lang: "toml", Text: "create-delay = \"-1s\"\n"},
		{Lang: "toml", Text: "[[users]]\nname = \"u\"\n[[users.policies]]\nname = \"p\"\ndocument = '{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kinesis:*\"}]}'\n"},
	} {
		if err := CheckConfig(b); err == nil {
			t.Errorf("CheckConfig accepted %q", b.Text)
		}
	}
	deny := `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kinesis:*", "Resource": "*"}]}`
	if err := CheckPolicy(Block{Lang: "json", Text: deny}); err != nil {
		t.Errorf("identity policy refused: %v", err)
	}
	if err := CheckPolicy(Block{Lang: "json", Text: deny, Directive: &Directive{ResourcePolicy: true}}); err == nil {
		t.Error("a resource policy without Principal was accepted")
	}
}

func TestSubstitute(t *testing.T) {
	in := "curl http://127.0.0.1:4567/health; listen = \"0.0.0.0:4568\"; localhost:45678; --pid <pid>\n"
	d := &Directive{Replace: [][2]string{{"<pid>", "$SERVER_PID"}}}
	got := substitute(in, d, 40001, 40002)
	want := "curl http://127.0.0.1:40001/health; listen = \"0.0.0.0:40002\"; localhost:45678; --pid $SERVER_PID\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestShellScript(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Root: root}
	blocks, err := ParseMarkdown("x.md", "<!-- example: harness stream-orders; server on line 2; skip line 3: slow -->\n```sh\nmillrace cert\nmillrace --tls-listen 127.0.0.1:4568\ngo test ./...\necho done\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	b := blocks[0]
	script, err := r.shellScript(b, b.Directive, substitute(b.Text, b.Directive, 1000, 2000))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(script, shellPrelude)
	for _, want := range []string{
		"aws kinesis create-stream --endpoint-url \"$ENDPOINT\" --stream-name orders", // the harness
		"# x.md:3\nmillrace cert\nset -m\n{ millrace --tls-listen 127.0.0.1:2000\n} >\"$__srvlog\" 2>&1 &\n",
		"__await_server\n# line 3 not run: slow\necho done\n__stop_server\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("script lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "go test") {
		t.Errorf("the skipped line is in the script:\n%s", body)
	}
}

func TestGoHarnessPointsAtTheDoc(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Root: root}
	b := Block{File: "README.md", Line: 88, Lang: "go", Text: "client := 1\n", Directive: &Directive{Harness: "sdk-config"}}
	src, err := r.applyHarness(b, b.Directive, KindGo, b.Text)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, "\n//line README.md:89\nclient := 1\n//line harness/sdk-config.go.tmpl:") {
		t.Fatalf("the block is not marked with its doc line:\n%s", src)
	}
}

// FuzzParseMarkdown: any document either is refused or yields blocks that
// each start at a fence line of the document, with a text made of the
// document's lines.
func FuzzParseMarkdown(f *testing.F) {
	f.Add("<!-- example: server on line 1; replace `a` with `b` -->\n```sh\nls\n```\n")
	f.Add("  ~~~~ go\n  x\n ~~~~~\n\n- item\n\n    more\n")
	f.Add("````\n```\n````\n<!-- example: not run: x -->\n```java\n```\n")
	f.Fuzz(func(t *testing.T, doc string) {
		blocks, err := ParseMarkdown("f.md", doc)
		if err != nil {
			return
		}
		lines := strings.Split(doc, "\n")
		for _, b := range blocks {
			if b.Line < 1 || b.Line > len(lines) || !fenceOpen.MatchString(lines[b.Line-1]) {
				t.Fatalf("block at line %d does not start at a fence: %q", b.Line, doc)
			}
			if b.Text != "" && !strings.HasSuffix(b.Text, "\n") {
				t.Fatalf("block text %q does not end in a newline", b.Text)
			}
			for _, l := range b.Lines() {
				if l != "" && !strings.Contains(doc, l) {
					t.Fatalf("block line %q is not in the document", l)
				}
			}
		}
	})
}
