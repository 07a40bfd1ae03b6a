package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// inputFormat is how COPY reads the batch.
type inputFormat int

const (
	formatDelimited inputFormat = iota // Redshift's default: text lines, '|' between fields
	formatCSV
	formatJSON
)

// copyOptions are Redshift COPY's CopyOptions as they apply to a batch
// loaded from STDIN.
type copyOptions struct {
	format         inputFormat
	delimiter      byte
	quote          byte
	null           string // NULL AS
	ignoreHeader   int
	escape         bool
	removeQuotes   bool
	emptyAsNull    bool
	blanksAsNull   bool
	fillRecord     bool
	trimBlanks     bool
	ignoreBlank    bool
	jsonIgnoreCase bool
	maxError       int
	// ignored lists the options accepted that have no effect here, for
	// the docs and logs.
	ignored []string
}

// Redshift's defaults: '|' for text, ',' for CSV, and '\N' for NULL.
const (
	defaultDelimiter    = '|'
	defaultCSVDelimiter = ','
	defaultNull         = `\N`
)

// optionError says which CopyOptions word Firehose's COPY would not run
// here, and why.
type optionError struct {
	option string
	why    string
}

func (e *optionError) Error() string {
	return fmt.Sprintf("CopyOptions %s: %s", e.option, e.why)
}

// tokenize splits CopyOptions into words and quoted strings ('...' with
// ” or \' for a quote).
type token struct {
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == ',':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '\\' && j+1 < len(s) {
					// Redshift reads '\t' in DELIMITER as a tab; keep the
					// escape for the option to read.
					b.WriteByte(s[j])
					b.WriteByte(s[j+1])
					j++
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, &optionError{s[i:], "unterminated quoted string"}
			}
			out = append(out, token{b.String(), true})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r;,'", rune(s[j])) {
				j++
			}
			out = append(out, token{strings.ToUpper(s[i:j]), false})
			i = j
		}
	}
	return out, nil
}

// unescape reads the backslash escapes Redshift allows in a delimiter or
// NULL string: \t, \n, \\, \', and octal \ooo.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case '\'':
			b.WriteByte('\'')
		case 'N':
			b.WriteString(`\N`)
		default:
			if i+2 < len(s) && isOctal(s[i]) && isOctal(s[i+1]) && isOctal(s[i+2]) {
				n, _ := strconv.ParseUint(s[i:i+3], 8, 8)
				b.WriteByte(byte(n))
				i += 2
				continue
			}
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// parseCopyOptions reads CopyOptions, e.g. "json 'auto'",
// "csv delimiter ';' ignoreheader 1", "delimiter '\t' gzip".
func parseCopyOptions(s string) (*copyOptions, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	o := &copyOptions{null: defaultNull}
	var delimiterSet bool
	i := 0
	next := func() (token, bool) {
		if i < len(toks) {
			i++
			return toks[i-1], true
		}
		return token{}, false
	}
	// value reads an option's argument, with an optional AS before it.
	value := func(opt string) (token, error) {
		t, ok := next()
		if ok && !t.quoted && t.text == "AS" {
			t, ok = next()
		}
		if !ok {
			return token{}, &optionError{opt, "needs a value"}
		}
		return t, nil
	}
	quotedValue := func(opt string) (string, error) {
		t, err := value(opt)
		if err != nil {
			return "", err
		}
		if !t.quoted {
			return "", &optionError{opt, fmt.Sprintf("needs a quoted value, not %s", t.text)}
		}
		return t.text, nil
	}
	intValue := func(opt string) (int, error) {
		t, err := value(opt)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(t.text)
		if err != nil || n < 0 {
			return 0, &optionError{opt, fmt.Sprintf("needs a whole number, not %q", t.text)}
		}
		return n, nil
	}
	// optional consumes the next token if it is one of words.
	optional := func(words ...string) {
		if i < len(toks) && !toks[i].quoted {
			for _, w := range words {
				if toks[i].text == w {
					i++
					return
				}
			}
		}
	}
	setJSON := func(opt string) error {
		o.format = formatJSON
		// JSON takes 'auto', 'auto ignorecase' or a jsonpaths file.
		if i < len(toks) && !toks[i].quoted && toks[i].text == "AS" {
			i++
		}
		if i >= len(toks) || !toks[i].quoted {
			return &optionError{opt, "needs 'auto', 'auto ignorecase' or a JSONPaths file"}
		}
		arg := strings.ToLower(strings.TrimSpace(toks[i].text))
		i++
		switch arg {
		case "auto":
		case "auto ignorecase":
			o.jsonIgnoreCase = true
		case "noshred":
			return &optionError{opt + " 'noshred'", "loads into a SUPER column, which PostgreSQL does not have"}
		default:
			return &optionError{opt + " '" + arg + "'", "a JSONPaths file is read from S3, which this destination does not stage through; use 'auto' or 'auto ignorecase'"}
		}
		return nil
	}
	for i < len(toks) {
		t, _ := next()
		if t.quoted {
			return nil, &optionError{"'" + t.text + "'", "a quoted string where an option name was expected"}
		}
		switch t.text {
		case "FORMAT":
			optional("AS")
			f, ok := next()
			if !ok {
				return nil, &optionError{"FORMAT", "needs CSV or JSON"}
			}
			switch f.text {
			case "CSV":
				o.format = formatCSV
			case "JSON":
				if err := setJSON("FORMAT AS JSON"); err != nil {
					return nil, err
				}
			default:
				return nil, &optionError{"FORMAT " + f.text, "only CSV, JSON and delimited text reach COPY from a delivery stream here"}
			}
		case "CSV":
			o.format = formatCSV
		case "QUOTE":
			q, err := quotedValue("QUOTE")
			if err != nil {
				return nil, err
			}
			if q, err = unescape(q); err != nil || len(q) != 1 {
				return nil, &optionError{"QUOTE", "needs one character"}
			}
			o.quote = q[0]
		case "JSON":
			if err := setJSON("JSON"); err != nil {
				return nil, err
			}
		case "DELIMITER":
			d, err := quotedValue("DELIMITER")
			if err != nil {
				return nil, err
			}
			if d, err = unescape(d); err != nil || len(d) != 1 || d == "\n" || d == "\r" || d == "\x00" || d[0] >= 0x80 {
				return nil, &optionError{"DELIMITER", "needs one ASCII character other than a newline or NUL"}
			}
			o.delimiter = d[0]
			delimiterSet = true
		case "NULL":
			n, err := quotedValue("NULL AS")
			if err != nil {
				return nil, err
			}
			if o.null, err = unescape(n); err != nil {
				return nil, &optionError{"NULL AS", err.Error()}
			}
		case "IGNOREHEADER":
			if o.ignoreHeader, err = intValue("IGNOREHEADER"); err != nil {
				return nil, err
			}
		case "MAXERROR":
			if o.maxError, err = intValue("MAXERROR"); err != nil {
				return nil, err
			}
		case "ESCAPE":
			o.escape = true
		case "REMOVEQUOTES":
			o.removeQuotes = true
		case "EMPTYASNULL":
			o.emptyAsNull = true
		case "BLANKSASNULL":
			o.blanksAsNull = true
		case "FILLRECORD":
			o.fillRecord = true
		case "TRIMBLANKS":
			o.trimBlanks = true
		case "IGNOREBLANKLINES":
			o.ignoreBlank = true
		case "GZIP", "LZOP", "BZIP2", "ZSTD":
			// The batch reaches COPY uncompressed: no S3 object is read.
			o.ignored = append(o.ignored, t.text)
		case "TRUNCATECOLUMNS", "ROUNDEC", "EXPLICIT_IDS", "ACCEPTANYDATE", "MANIFEST":
			o.ignored = append(o.ignored, t.text)
		case "ACCEPTINVCHARS":
			if i < len(toks) && (toks[i].quoted || toks[i].text == "AS") {
				if _, err := quotedValue("ACCEPTINVCHARS"); err != nil {
					return nil, err
				}
			}
			o.ignored = append(o.ignored, t.text)
		case "COMPUPDATE", "STATUPDATE":
			optional("ON", "OFF", "TRUE", "FALSE", "PRESET")
			o.ignored = append(o.ignored, t.text)
		case "REGION", "IAM_ROLE", "CREDENTIALS", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN":
			// Where and as whom Redshift reads S3: nothing is read from
			// S3 here.
			if _, err := value(t.text); err != nil {
				return nil, err
			}
			o.ignored = append(o.ignored, t.text)
		case "DATEFORMAT", "TIMEFORMAT":
			v, err := quotedValue(t.text)
			if err != nil {
				return nil, err
			}
			if strings.ToLower(v) != "auto" {
				return nil, &optionError{t.text + " '" + v + "'", "only 'auto' is supported: PostgreSQL reads dates and times by its own rules"}
			}
			o.ignored = append(o.ignored, t.text)
		case "ENCODING":
			v, err := value("ENCODING")
			if err != nil {
				return nil, err
			}
			if v.text != "UTF8" && strings.ToUpper(v.text) != "UTF8" {
				return nil, &optionError{"ENCODING " + v.text, "only UTF8 is supported"}
			}
		default:
			return nil, &optionError{t.text, "is not a COPY option this destination supports (see docs/firehose-destinations.md)"}
		}
	}
	switch o.format {
	case formatCSV:
		if !delimiterSet {
			o.delimiter = defaultCSVDelimiter
		}
		if o.quote == 0 {
			o.quote = '"'
		}
		if o.escape || o.removeQuotes {
			return nil, &optionError{"ESCAPE/REMOVEQUOTES", "cannot be used with CSV (as in Redshift)"}
		}
		if o.delimiter == o.quote {
			return nil, &optionError{"DELIMITER", "cannot be the CSV quote character"}
		}
	case formatDelimited:
		if !delimiterSet {
			o.delimiter = defaultDelimiter
		}
		if o.quote != 0 {
			return nil, &optionError{"QUOTE", "needs CSV (as in Redshift)"}
		}
	case formatJSON:
		if delimiterSet || o.quote != 0 || o.ignoreHeader > 0 || o.escape || o.removeQuotes || o.fillRecord {
			return nil, &optionError{"JSON", "cannot be combined with DELIMITER, QUOTE, IGNOREHEADER, ESCAPE, REMOVEQUOTES or FILLRECORD (as in Redshift)"}
		}
	}
	if o.null != "" && !utf8.ValidString(o.null) {
		return nil, &optionError{"NULL AS", "is not UTF-8"}
	}
	return o, nil
}
