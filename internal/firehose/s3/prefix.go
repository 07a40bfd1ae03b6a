package s3

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Prefix expressions, as Firehose evaluates them in an S3 destination's
// Prefix and ErrorOutputPrefix: !{namespace:value}.
const (
	nsTimestamp      = "timestamp"
	nsFirehose       = "firehose"
	nsPartitionQuery = "partitionKeyFromQuery"
	nsPartitionFn    = "partitionKeyFromLambda"
)

// DefaultTimePrefix is what Firehose appends to a prefix that has no
// timestamp expression: the arrival hour in UTC.
const DefaultTimePrefix = "!{timestamp:yyyy/MM/dd/HH/}"

// maxEvaluatedPrefix is the longest an evaluated prefix may be.
const maxEvaluatedPrefix = 512

// Expr is one part of a parsed prefix: literal text, or an expression.
type Expr struct {
	Literal   string
	Namespace string // "" for a literal
	Value     string
	layout    []fmtPart // timestamp expressions only
}

// Template is a parsed prefix.
type Template struct {
	parts        []Expr
	hasTimestamp bool
}

// HasExpressions reports whether the prefix holds any !{...} expression.
func (t *Template) HasExpressions() bool {
	for _, p := range t.parts {
		if p.Namespace != "" {
			return true
		}
	}
	return false
}

// Uses reports whether the prefix holds an expression of the namespace
// (and, when value is not empty, that value).
func (t *Template) Uses(namespace, value string) bool {
	for _, p := range t.parts {
		if p.Namespace == namespace && (value == "" || p.Value == value) {
			return true
		}
	}
	return false
}

// PartitionKeys lists the keys of the template's !{partitionKeyFromQuery:k}
// and !{partitionKeyFromLambda:k} expressions.
func (t *Template) PartitionKeys() (fromQuery, fromLambda []string) {
	for _, p := range t.parts {
		switch p.Namespace {
		case nsPartitionQuery:
			fromQuery = append(fromQuery, p.Value)
		case nsPartitionFn:
			fromLambda = append(fromLambda, p.Value)
		}
	}
	return fromQuery, fromLambda
}

// ParsePrefix parses a prefix. Without a timestamp expression, the
// default time prefix is appended when appendTime is set (Firehose does
// so for Prefix and ErrorOutputPrefix alike). The error says what is
// wrong in words fit for an InvalidArgumentException.
func ParsePrefix(s string, appendTime bool) (*Template, error) {
	t := &Template{}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "!{")
		if i < 0 {
			t.parts = append(t.parts, Expr{Literal: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, Expr{Literal: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("the expression starting at %q is not closed with '}'", rest[i:])
		}
		body := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		ns, val, ok := strings.Cut(body, ":")
		if !ok || val == "" {
			return nil, fmt.Errorf("the expression !{%s} must be of the form !{namespace:value}", body)
		}
		e := Expr{Namespace: ns, Value: val}
		switch ns {
		case nsTimestamp:
			lay, err := parseJavaLayout(val)
			if err != nil {
				return nil, fmt.Errorf("the expression !{%s}: %w", body, err)
			}
			e.layout = lay
			t.hasTimestamp = true
		case nsFirehose:
			if val != "random-string" && val != "error-output-type" {
				return nil, fmt.Errorf("the expression !{%s}: the firehose namespace has only random-string and error-output-type", body)
			}
		case nsPartitionQuery, nsPartitionFn:
		default:
			return nil, fmt.Errorf("the expression !{%s} has an unknown namespace %q (timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda)", body, ns)
		}
		t.parts = append(t.parts, e)
	}
	if appendTime && !t.hasTimestamp {
		lay, _ := parseJavaLayout("yyyy/MM/dd/HH/")
		t.parts = append(t.parts, Expr{Namespace: nsTimestamp, Value: "yyyy/MM/dd/HH/", layout: lay})
		t.hasTimestamp = true
	}
	return t, nil
}

// Values are what a prefix's expressions evaluate to.
type Values struct {
	// Time is the approximate arrival of the object's oldest record, in
	// the destination's time zone.
	Time            time.Time
	ErrorOutputType string
	PartitionKeys   map[string]string
}

// Eval evaluates the prefix. Every timestamp expression sees the same
// instant; every random-string is new.
func (t *Template) Eval(v Values) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.Namespace {
		case "":
			b.WriteString(p.Literal)
		case nsTimestamp:
			formatJava(&b, p.layout, v.Time)
		case nsFirehose:
			if p.Value == "random-string" {
				b.WriteString(randomString())
			} else {
				b.WriteString(v.ErrorOutputType)
			}
		case nsPartitionQuery, nsPartitionFn:
			k, ok := v.PartitionKeys[p.Value]
			if !ok {
				return "", fmt.Errorf("the partition key %q has no value for this record", p.Value)
			}
			b.WriteString(k)
		}
	}
	if b.Len() > maxEvaluatedPrefix {
		return "", fmt.Errorf("the evaluated prefix is %d characters long, over the limit of %d", b.Len(), maxEvaluatedPrefix)
	}
	return b.String(), nil
}

const randomAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString is !{firehose:random-string}: 11 characters.
func randomString() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = randomAlphabet[int(b[i])%len(randomAlphabet)]
	}
	return string(b[:])
}

// fmtPart is one element of a Java DateTimeFormatter pattern: a literal
// or a run of one pattern letter.
type fmtPart struct {
	lit    string
	letter byte
	n      int
}

// parseJavaLayout reads the subset of java.time.format.DateTimeFormatter
// patterns that prefixes use: y, M, d, D, H, h, m, s, S, E, a, with text
// in single quotes (” for a quote) and other characters as they are.
func parseJavaLayout(p string) ([]fmtPart, error) {
	var out []fmtPart
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			j := i + 1
			var lit strings.Builder
			for ; j < len(p); j++ {
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j++
						continue
					}
					break
				}
				lit.WriteByte(p[j])
			}
			if j >= len(p) {
				return nil, fmt.Errorf("the quoted text starting at position %d is not closed", i)
			}
			if i+1 == j {
				lit.WriteByte('\'')
			}
			out = append(out, fmtPart{lit: lit.String()})
			i = j + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			if !strings.ContainsRune("yMdDHhmsSEa", rune(c)) {
				return nil, fmt.Errorf("the pattern letter %q is not supported (y M d D H h m s S E a)", c)
			}
			out = append(out, fmtPart{letter: c, n: j - i})
			i = j
		default:
			out = append(out, fmtPart{lit: string(c)})
			i++
		}
	}
	return out, nil
}

func pad(b *strings.Builder, v, width int) {
	s := strconv.Itoa(v)
	for i := len(s); i < width; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
}

func formatJava(b *strings.Builder, parts []fmtPart, t time.Time) {
	for _, p := range parts {
		switch p.letter {
		case 0:
			b.WriteString(p.lit)
		case 'y':
			if p.n == 2 {
				pad(b, t.Year()%100, 2)
			} else {
				pad(b, t.Year(), p.n)
			}
		case 'M':
			switch {
			case p.n >= 4:
				b.WriteString(t.Month().String())
			case p.n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				pad(b, int(t.Month()), p.n)
			}
		case 'd':
			pad(b, t.Day(), p.n)
		case 'D':
			pad(b, t.YearDay(), p.n)
		case 'H':
			pad(b, t.Hour(), p.n)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(b, h, p.n)
		case 'm':
			pad(b, t.Minute(), p.n)
		case 's':
			pad(b, t.Second(), p.n)
		case 'S':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			for len(frac) < p.n {
				frac += "0"
			}
			b.WriteString(frac[:p.n])
		case 'E':
			if p.n >= 4 {
				b.WriteString(t.Weekday().String())
			} else {
				b.WriteString(t.Weekday().String()[:3])
			}
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		}
	}
}
