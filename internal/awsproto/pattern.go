package awsproto

import (
	"regexp"
	"regexp/syntax"
	"sync"
)

// Most model patterns are one character class repeated ([a-zA-Z0-9_.-]+,
// .*, [\x20-\x7E]+), and stream and shard names are checked on every data
// call. For those, an ASCII value is matched by looking up each byte in a
// table; other values and other patterns go to the regular expression.

// classPattern is a pattern of the form ^(?:C+)$ or ^(?:C*)$.
type classPattern struct {
	in       [128]bool // whether each ASCII character is in C
	nonEmpty bool      // C+ rather than C*
}

// Pattern is a model pattern anchored to the whole value, as the Java
// validators AWS uses match it. It is compiled when first matched: the
// generated API packages declare hundreds, and compiling them all when
// the server starts cost about 2 MB of heap that most runs never use.
type Pattern struct {
	text  string // as the model writes it, unanchored
	once  sync.Once
	re    *regexp.Regexp
	class *classPattern // nil unless the pattern is one repeated class
}

// NewPattern returns the pattern p, anchored; p must compile (apigen
// writes only patterns that do).
func NewPattern(p string) *Pattern { return &Pattern{text: p} }

func (p *Pattern) compile() {
	p.once.Do(func() {
		anchored := `^(?:` + p.text + `)$`
		p.re = regexp.MustCompile(anchored)
		p.class = parseClassPattern(anchored)
	})
}

// Regexp is the compiled, anchored regular expression.
func (p *Pattern) Regexp() *regexp.Regexp {
	p.compile()
	return p.re
}

// String is the anchored pattern's text.
func (p *Pattern) String() string { return `^(?:` + p.text + `)$` }

// MatchString reports whether s matches the whole pattern, by table when
// the pattern has one.
func (p *Pattern) MatchString(s string) bool {
	p.compile()
	if p.class != nil {
		if m, known := p.class.match(s); known {
			return m
		}
	}
	return p.re.MatchString(s)
}

// parseClassPattern returns the table of the anchored pattern p, or nil
// when p is not a single character class under + or *.
func parseClassPattern(p string) *classPattern {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) != 3 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[2].Op != syntax.OpEndText {
		return nil
	}
	rep := re.Sub[1]
	if (rep.Op != syntax.OpPlus && rep.Op != syntax.OpStar) || len(rep.Sub) != 1 {
		return nil
	}
	c := &classPattern{nonEmpty: rep.Op == syntax.OpPlus}
	switch class := rep.Sub[0]; class.Op {
	case syntax.OpCharClass:
		for i := 0; i+1 < len(class.Rune); i += 2 {
			for r := class.Rune[i]; r <= class.Rune[i+1] && r < 128; r++ {
				c.in[r] = true
			}
		}
	case syntax.OpAnyCharNotNL:
		for r := range c.in {
			c.in[r] = r != '\n'
		}
	case syntax.OpAnyChar:
		for r := range c.in {
			c.in[r] = true
		}
	default:
		return nil
	}
	return c
}

// match reports whether s matches, and false for known when s is not
// ASCII (then the regular expression decides).
func (c *classPattern) match(s string) (matched, known bool) {
	matched = len(s) > 0 || !c.nonEmpty
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 128 {
			return false, false
		}
		if !c.in[b] {
			matched = false
		}
	}
	return matched, true
}
