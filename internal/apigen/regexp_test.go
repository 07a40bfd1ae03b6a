package main

import (
	"regexp"
	"testing"
)

func TestGoRegexpTranslatesJavaSyntax(t *testing.T) {
	cases := []struct {
		java, match, nomatch string
	}{
		{`\p{Print}+`, "abc ~", "a\tb"},
		{`[\p{Print}]+`, "abc", "\x01"},
		{`[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*`, "héllo 😀\n", "\x01"},
		{`[a-zA-Z0-9_.-]+`, "my.table-1", "a b"},
	}
	for _, c := range cases {
		re := regexp.MustCompile(`^(?:` + goRegexp(c.java) + `)$`)
		if !re.MatchString(c.match) {
			t.Errorf("%s (as %s) does not match %q", c.java, goRegexp(c.java), c.match)
		}
		if re.MatchString(c.nomatch) {
			t.Errorf("%s (as %s) matches %q", c.java, goRegexp(c.java), c.nomatch)
		}
	}
	if got := goRegexp(`[a-z]+\.x`); got != `[a-z]+\.x` {
		t.Errorf("a pattern without Java syntax changed: %s", got)
	}
}
