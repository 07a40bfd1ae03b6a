// Command docs runs every example in README.md and docs/*.md against the
// built server, so that the documentation cannot drift from the product:
//
//	go run ./tests/docs            (from the repository; CI runs it)
//	go run ./tests/docs -v         (also print the output of passing blocks)
//	go run ./tests/docs -run tls   (only the blocks whose file:line matches)
//
// The examples are read from the Markdown itself: every fenced code block
// is one example, checked according to its language:
//
//   - sh: run with bash -euo pipefail (any failing command fails the
//     block) in the module view, a directory with a symbolic link to each
//     top-level entry of the repository, so that `go run ./cmd/millrace`
//     works as in a clone while what the examples write stays out of the
//     repository;
//   - python: run with python3 there;
//   - go: a fragment, put into the harness named next to it
//     (tests/docs/harness/NAME.go.tmpl) and run with go run; a whole test
//     file (an external _test package with a Test function) runs with
//     go test, and starts what it needs itself;
//   - toml, yaml: loaded with the server's config loader and validated,
//     policies of users and groups included;
//   - json: parsed with the server's IAM policy parser;
//   - a block with an `output of` clause: compared with what that command
//     prints.
//
// A block the runner cannot run is marked in the Markdown, on the line
// before its fence, with <!-- example: not run: REASON -->; any other block
// the runner does not know how to run fails the run (and the unit tests),
// so no example slips in untested. The comment takes other clauses too
// (harness, server on line N, replace, ...): see Directive.
//
// The setup every block gets:
//   - a fresh default server (the built binary, every setting at its
//     default: throughput limits on, 100 ms state delays, dev-mode auth),
//     on a free port and a fresh data directory, unless the block starts its
//     own server; its endpoint replaces the docs' 127.0.0.1:4567 (and a free
//     port their 4568) and is in $ENDPOINT, its process id in $SERVER_PID;
//   - PATH with the built millrace first; the quick start's credentials
//     (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), no AWS
//     config files, no MILLRACE_* variables from outside;
//   - what a harness adds (a stream the example names, clients, ...).
//
// Blocks of one file run in order in the same view, which is emptied
// between files. DOCS_EXAMPLES_SKIP (comma-separated strings) skips the
// blocks whose text contains one of them, for a local run: CI sets none.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

func main() {
	verbose := flag.Bool("v", false, "print the output of passing blocks too")
	only := flag.String("run", "", "run only the blocks whose file:line matches this regular expression")
	flag.Parse()
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "docs examples: -run: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(*verbose, re))
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(data), "module github.com/millrace/millrace\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the millrace repository")
		}
		dir = parent
	}
}

func run(verbose bool, only *regexp.Regexp) int {
	started := time.Now()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "docs examples: "+format+"\n", args...)
		return 1
	}
	root, err := findRoot()
	if err != nil {
		return fail("%v", err)
	}
	blocks, err := LoadBlocks(root)
	if err != nil {
		return fail("%v", err)
	}
	kinds := make([]Kind, len(blocks))
	var planErrs []string
	for i, b := range blocks {
		if kinds[i], err = Plan(root, b); err != nil {
			planErrs = append(planErrs, err.Error())
		}
	}
	if len(planErrs) > 0 {
		return fail("%d blocks cannot be run:\n%s", len(planErrs), strings.Join(planErrs, "\n"))
	}
	for _, tool := range []string{"bash", "go", "python3", "aws", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fail("%s is not installed; the examples need it", tool)
		}
	}
	var skips []string
	for _, s := range strings.Split(os.Getenv("DOCS_EXAMPLES_SKIP"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			skips = append(skips, s)
		}
	}

	tmp, err := os.MkdirTemp("", "millrace-docs.")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	r := &Runner{Root: root, Bin: filepath.Join(tmp, "bin"), View: filepath.Join(tmp, "module"), Tmp: tmp, Verbose: verbose}
	build := exec.Command("go", "build", "-o", filepath.Join(r.Bin, "millrace"), "./cmd/millrace")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail("go build ./cmd/millrace: %v\n%s", err, out)
	}
	if err := NewView(root, r.View); err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var passed, failed, skipped int
	var failures []string
	for i, b := range blocks {
		if i > 0 && blocks[i-1].File != b.File {
			if err := CleanView(r.View); err != nil {
				return fail("%v", err)
			}
		}
		if ctx.Err() != nil {
			break
		}
		var res Result
		skip := ""
		for _, s := range skips {
			if strings.Contains(b.Text, s) {
				skip = "DOCS_EXAMPLES_SKIP contains " + s
			}
		}
		if !only.MatchString(b.ID()) {
			continue
		}
		if skip != "" {
			res = Result{Block: b, Kind: kinds[i], Skipped: skip}
		} else {
			res = r.Run(ctx, b, kinds[i])
		}
		switch {
		case res.Skipped != "":
			skipped++
			fmt.Printf("skip %-28s %-7s %s\n", b.ID(), b.Lang, res.Skipped)
		case res.Err != nil:
			failed++
			failures = append(failures, b.ID())
			fmt.Printf("FAIL %-28s %-7s %5.1fs\n", b.ID(), res.Kind, res.Took.Seconds())
			fmt.Printf("---- %s, the block:\n%s", b.ID(), b.Text)
			if res.Output != "" {
				fmt.Printf("---- its output (last 80 lines):\n%s\n", tail(res.Output, 80))
			}
			fmt.Printf("---- error: %v\n\n", res.Err)
		default:
			passed++
			fmt.Printf("ok   %-28s %-7s %5.1fs\n", b.ID(), res.Kind, res.Took.Seconds())
			if verbose && res.Output != "" {
				fmt.Println(tail(res.Output, 80))
			}
		}
	}
	if ctx.Err() != nil {
		return fail("interrupted")
	}
	if len(failures) > 0 {
		fmt.Printf("\nfailed: %s\n", strings.Join(failures, " "))
	}
	fmt.Printf("docs examples in %.0fs\n", time.Since(started).Seconds())
	fmt.Printf("examples: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		return 1
	}
	return 0
}
