package dynamodb

import (
	"strings"
)

// tokKind classifies expression tokens.
type tokKind int

const (
	tokEOF     tokKind = iota
	tokName            // attribute name or keyword or function name
	tokNamePH          // #placeholder
	tokValuePH         // :placeholder
	tokNumber          // list index
	tokPunct           // ( ) [ ] , . = <> < <= > >= + -
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte offsets in the source
}

// exprError is a ValidationException about one expression, prefixed with
// "Invalid <Kind>Expression: ".
func exprError(kind, format string, args ...any) error {
	return validationError("Invalid "+kind+": "+format, args...)
}

// lex splits an expression into tokens. Names are letters, digits and
// underscores, starting with a letter or underscore; placeholders are # or
// : followed by name characters.
func lex(kind, src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isNameStart(c):
			j := i + 1
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			toks = append(toks, token{tokName, src[i:j], i, j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			toks = append(toks, token{tokNumber, src[i:j], i, j})
			i = j
		case c == '#' || c == ':':
			j := i + 1
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			k := tokNamePH
			if c == ':' {
				k = tokValuePH
			}
			if j == i+1 {
				return nil, syntaxErrorAt(kind, src, toks, token{tokPunct, src[i : i+1], i, i + 1})
			}
			toks = append(toks, token{k, src[i:j], i, j})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch {
			case two == "<>" || two == "<=" || two == ">=":
				toks = append(toks, token{tokPunct, two, i, i + 2})
				i += 2
			case strings.IndexByte("()[],.=<>+-", c) >= 0:
				toks = append(toks, token{tokPunct, src[i : i+1], i, i + 1})
				i++
			default:
				// DynamoDB names the offending character.
				return nil, exprError(kind, "Invalid character encountered; character: %s", src[i:i+1])
			}
		}
	}
	toks = append(toks, token{tokEOF, "<EOF>", len(src), len(src)})
	return toks, nil
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

// syntaxErrorAt words a syntax error as DynamoDB does: the offending token
// and the text around it (previous token to next token).
func syntaxErrorAt(kind, src string, toks []token, bad token) error {
	start := bad.start
	if len(toks) > 0 {
		// The token before the offending one.
		for k := len(toks) - 1; k >= 0; k-- {
			if toks[k].end <= bad.start && toks[k].start < bad.start {
				start = toks[k].start
				break
			}
		}
	}
	end := bad.end
	for _, t := range toks {
		if t.start >= bad.end && t.kind != tokEOF {
			end = t.end
			break
		}
	}
	return exprError(kind, "Syntax error; token: %q, near: %q", bad.text, nearText(src, start, end))
}

func nearText(src string, start, end int) string {
	if start < 0 {
		start = 0
	}
	if end > len(src) {
		end = len(src)
	}
	return src[start:end]
}
