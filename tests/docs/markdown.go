package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Block is one fenced code block of a Markdown file.
type Block struct {
	File string // path relative to the repository, slash-separated
	Line int    // line of the opening fence, from 1
	Lang string // first word of the fence's info string ("" when none)
	Text string // the content, without the fences, ending in a newline
	// Directive is the <!-- example: ... --> comment on the line before the
	// fence, nil when there is none.
	Directive *Directive
}

// ID names the block in reports: file and line of its opening fence.
func (b Block) ID() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Lines are the block's lines, without their newlines.
func (b Block) Lines() []string {
	return strings.Split(strings.TrimSuffix(b.Text, "\n"), "\n")
}

// Directive is what the comment before a block says about running it. The
// comment is one line, <!-- example: CLAUSE; CLAUSE; ... -->, with these
// clauses (arguments in backquotes are taken verbatim):
//
//	not run: REASON            the block is not run, for REASON (alone)
//	harness NAME               wrap the block in tests/docs/harness/NAME.<ext>
//	server on line N           (sh) line N starts a server: it runs in the
//	                           background, the rest of the block runs once it
//	                           answers /health, then it is stopped with SIGTERM
//	                           and must stop gracefully
//	skip line N: REASON        (sh) line N is not run, for REASON
//	server flags `FLAGS`       extra flags for the server the block talks to
//	env `NAME=VALUE`           an extra environment variable for the block
//	                           (the docs' addresses in VALUE move with the server)
//	replace `OLD` with `NEW`   a substitution in the block before it runs
//	output of `COMMAND`        the block is the start of COMMAND's output
//	exit N                     (with output of) COMMAND's exit status
//	saved as `FILE`            (toml, yaml, json) also written to FILE in the
//	                           working directory, for later blocks of the file
//	resource policy            (json) a resource policy: Principal required
//	timeout DURATION           the block's time limit (default 3m)
type Directive struct {
	Line           int
	NotRun         string
	Harness        string
	ServerLine     int
	SkipLines      map[int]string
	ServerFlags    []string
	Env            []string
	Replace        [][2]string
	OutputOf       string
	Exit           int // -1: not checked
	SavedAs        string
	ResourcePolicy bool
	Timeout        time.Duration
}

var (
	fenceOpen     = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})[ \t]*([^`]*)$")
	directiveLine = regexp.MustCompile(`^<!--\s*example:(.*?)-->\s*$`)
	listItem      = regexp.MustCompile(`^\s*([-*+]|\d+[.)])\s`)

	clauseNotRun      = regexp.MustCompile(`^not run: (.+)$`)
	clauseHarness     = regexp.MustCompile(`^harness ([a-z0-9][a-z0-9-]*)$`)
	clauseServerLine  = regexp.MustCompile(`^server on line (\d+)$`)
	clauseSkipLine    = regexp.MustCompile(`^skip line (\d+): (.+)$`)
	clauseServerFlags = regexp.MustCompile("^server flags `([^`]+)`$")
	clauseEnv         = regexp.MustCompile("^env `([A-Za-z_][A-Za-z0-9_]*=[^`]*)`$")
	clauseReplace     = regexp.MustCompile("^replace `([^`]+)` with `([^`]*)`$")
	clauseOutputOf    = regexp.MustCompile("^output of `([^`]+)`$")
	clauseExit        = regexp.MustCompile(`^exit (\d+)$`)
	clauseSavedAs     = regexp.MustCompile("^saved as `([^`/][^`]*)`$")
	clauseTimeout     = regexp.MustCompile(`^timeout (\S+)$`)
)

// ParseMarkdown returns the fenced code blocks of a Markdown file, with
// their directives. It refuses what would let an example escape the runner:
// an indented code block (write it fenced), a directive that is not
// followed by a fence, a fence that is never closed, a malformed directive.
func ParseMarkdown(file, doc string) ([]Block, error) {
	lines := strings.Split(doc, "\n")
	var blocks []Block
	var pending *Directive
	prevBlank, inList := true, false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := directiveLine.FindStringSubmatch(line); m != nil {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: example comment not followed by a fenced code block", file, pending.Line)
			}
			d, err := parseDirective(strings.TrimSpace(m[1]))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, i+1, err)
			}
			d.Line = i + 1
			pending = d
			continue
		}
		if m := fenceOpen.FindStringSubmatch(line); m != nil {
			indent, fence, info := len(m[1]), m[2], strings.TrimSpace(m[3])
			b := Block{File: file, Line: i + 1, Directive: pending}
			if f := strings.Fields(info); len(f) > 0 {
				b.Lang = strings.ToLower(f[0])
			}
			pending = nil
			var body strings.Builder
			closed := false
			for i++; i < len(lines); i++ {
				l := lines[i]
				t := strings.TrimLeft(l, " ")
				if len(l)-len(t) <= 3 && strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
					closed = true
					break
				}
				for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
					l = l[1:]
				}
				body.WriteString(l)
				body.WriteByte('\n')
			}
			if !closed {
				return nil, fmt.Errorf("%s:%d: code fence never closed", file, b.Line)
			}
			b.Text = body.String()
			blocks = append(blocks, b)
			prevBlank, inList = false, false
			continue
		}
		if pending != nil && strings.TrimSpace(line) != "" {
			return nil, fmt.Errorf("%s:%d: example comment not followed by a fenced code block", file, pending.Line)
		}
		blank := strings.TrimSpace(line) == ""
		indented := strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")
		switch {
		case blank:
		case listItem.MatchString(line):
			inList = true
		case indented && prevBlank && !inList:
			return nil, fmt.Errorf("%s:%d: indented code block; write it as a fenced block (```sh ...) so that the docs runner sees it", file, i+1)
		case !indented && !strings.HasPrefix(line, "  "):
			inList = false
		}
		prevBlank = blank
	}
	if pending != nil {
		return nil, fmt.Errorf("%s:%d: example comment not followed by a fenced code block", file, pending.Line)
	}
	return blocks, nil
}

// splitClauses splits a directive at semicolons outside backquotes.
func splitClauses(s string) []string {
	var out []string
	quoted := false
	start := 0
	for i, r := range s {
		switch {
		case r == '`':
			quoted = !quoted
		case r == ';' && !quoted:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func parseDirective(s string) (*Directive, error) {
	d := &Directive{Exit: -1}
	for _, c := range splitClauses(s) {
		var m []string
		match := func(re *regexp.Regexp) bool { m = re.FindStringSubmatch(c); return m != nil }
		switch {
		case c == "":
			return nil, fmt.Errorf("empty clause in example comment %q", s)
		case match(clauseNotRun):
			d.NotRun = strings.TrimSpace(m[1])
		case match(clauseHarness):
			d.Harness = m[1]
		case match(clauseServerLine):
			d.ServerLine, _ = strconv.Atoi(m[1])
		case match(clauseSkipLine):
			n, _ := strconv.Atoi(m[1])
			if d.SkipLines == nil {
				d.SkipLines = map[int]string{}
			}
			d.SkipLines[n] = m[2]
		case match(clauseServerFlags):
			d.ServerFlags = append(d.ServerFlags, strings.Fields(m[1])...)
		case match(clauseEnv):
			d.Env = append(d.Env, m[1])
		case match(clauseReplace):
			d.Replace = append(d.Replace, [2]string{m[1], m[2]})
		case match(clauseOutputOf):
			d.OutputOf = m[1]
		case match(clauseExit):
			d.Exit, _ = strconv.Atoi(m[1])
		case match(clauseSavedAs):
			d.SavedAs = m[1]
		case c == "resource policy":
			d.ResourcePolicy = true
		case match(clauseTimeout):
			t, err := time.ParseDuration(m[1])
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("example comment: bad timeout %q", m[1])
			}
			d.Timeout = t
		default:
			return nil, fmt.Errorf("example comment: unknown clause %q (see tests/docs/markdown.go for the clauses)", c)
		}
	}
	if d.NotRun != "" && len(splitClauses(s)) > 1 {
		return nil, fmt.Errorf("example comment: %q stands alone", "not run")
	}
	if d.Exit >= 0 && d.OutputOf == "" {
		return nil, fmt.Errorf("example comment: %q needs %q", "exit", "output of")
	}
	return d, nil
}
