package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Processor is one of a flow's dataProcessingOptions. Process gets a
// record without its trailing newline and returns the converted record;
// an error leaves the record as it was (it is sent unconverted and
// counted as a conversion failure, so no line is lost to a parse error).
type Processor interface {
	Process(rec []byte) ([]byte, error)
}

func parseProcessor(prefix string, raw json.RawMessage) (Processor, []error) {
	v, err := newValues(prefix, raw)
	if err != nil {
		return nil, []error{err}
	}
	name := v.str("optionName", "")
	var p Processor
	switch name {
	case "":
		v.fail("optionName", "is required")
	case "SINGLELINE":
		p = singleLine{}
	case "CSVTOJSON":
		p = parseCSVToJSON(v)
	case "LOGTOJSON":
		p = parseLogToJSON(v)
	case "ADDMETADATA":
		p = parseAddMetadata(v)
	case "ADDBRACKETS":
		p = addBrackets{}
	case "ADDEPHEMERALMETADATA", "ADDEC2METADATA", "USINGPLUGGIN":
		v.fail("optionName", "%s is not supported", name)
	default:
		v.fail("optionName", "unknown option %q (SINGLELINE, CSVTOJSON, LOGTOJSON, ADDMETADATA and ADDBRACKETS are supported)", name)
	}
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	v.unknown()
	return p, v.errs
}

// process runs the processors over rec, keeping a trailing newline where
// it was. It returns the number of conversions that failed.
func process(ps []Processor, rec []byte) ([]byte, int) {
	if len(ps) == 0 {
		return rec, 0
	}
	nl := bytes.HasSuffix(rec, []byte("\n"))
	body := bytes.TrimSuffix(rec, []byte("\n"))
	failed := 0
	for _, p := range ps {
		out, err := p.Process(body)
		if err != nil {
			failed++
			continue
		}
		body = out
	}
	if nl {
		body = append(body[:len(body):len(body)], '\n')
	}
	return body, failed
}

// singleLine joins the lines of a multi-line record, trimming the
// whitespace around each.
type singleLine struct{}

func (singleLine) Process(rec []byte) ([]byte, error) {
	if !bytes.ContainsAny(rec, "\r\n") {
		return bytes.TrimSpace(rec), nil
	}
	var out []byte
	for _, line := range bytes.FieldsFunc(rec, func(r rune) bool { return r == '\n' || r == '\r' }) {
		out = append(out, bytes.TrimSpace(line)...)
	}
	return out, nil
}

// jsonFormat writes JSON compactly or indented (jsonFormat PRETTYPRINT).
type jsonFormat bool

func (pretty jsonFormat) object(keys []string, vals []*string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if pretty {
			b.WriteString("\n  ")
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if pretty {
			b.WriteByte(' ')
		}
		if vals[i] == nil {
			b.WriteString("null")
		} else {
			vb, _ := json.Marshal(*vals[i])
			b.Write(vb)
		}
	}
	if pretty && len(keys) > 0 {
		b.WriteByte('\n')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func parseJSONFormat(v *values) jsonFormat {
	return v.enum("jsonFormat", "COMPACT", "COMPACT", "PRETTYPRINT") == "PRETTYPRINT"
}

// csvToJSON turns delimiter-separated values into a JSON object keyed by
// customFieldNames; missing values are null, extra ones are dropped.
type csvToJSON struct {
	names     []string
	delimiter string
	pretty    jsonFormat
}

func parseCSVToJSON(v *values) Processor {
	names, ok := v.strings("customFieldNames")
	if !ok || len(names) == 0 {
		v.fail("customFieldNames", "is required: a non-empty list of field names")
	}
	// JSON "\\t" arrives as the two characters \t, as the Java agent's
	// configuration examples write a tab.
	d := strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\\`, `\`).Replace(v.str("delimiter", ","))
	if d == "" {
		v.fail("delimiter", "must not be empty")
	}
	return csvToJSON{names, d, parseJSONFormat(v)}
}

func (c csvToJSON) Process(rec []byte) ([]byte, error) {
	fields := strings.Split(string(rec), c.delimiter)
	vals := make([]*string, len(c.names))
	for i := range c.names {
		if i < len(fields) {
			vals[i] = &fields[i]
		}
	}
	return c.pretty.object(c.names, vals), nil
}

// Log formats of LOGTOJSON: a regular expression and the names of its
// groups, in the Java agent's words where it documents them.
var logFormats = map[string]struct {
	re     string
	fields []string
}{
	"COMMONAPACHELOG": {`^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+)`,
		[]string{"host", "ident", "authuser", "datetime", "request", "response", "bytes"}},
	"COMBINEDAPACHELOG": {`^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"`,
		[]string{"host", "ident", "authuser", "datetime", "request", "response", "bytes", "referrer", "agent"}},
	"APACHEERRORLOG": {`^\[([^\]]+)\] \[(?:([^:\]]+):)?([^\]]+)\](?: \[pid (\d+)(?::tid (\d+))?\])?(?: \[client:? ([^\]]+)\])? ?(.*)$`,
		[]string{"timestamp", "module", "severity", "processid", "threadid", "client", "message"}},
	"SYSLOG": {`^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$`,
		[]string{"timestamp", "hostname", "program", "processid", "message"}},
	"RFC3339SYSLOG": {`^(\d{4}-\d{2}-\d{2}T\S+) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$`,
		[]string{"timestamp", "hostname", "program", "processid", "message"}},
	"RFC5424SYSLOG": {`^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$`,
		[]string{"pri", "version", "timestamp", "hostname", "program", "processid", "msgid", "structureddata", "message"}},
}

func init() {
	logFormats["RFC3164SYSLOG"] = logFormats["SYSLOG"]
}

// logToJSON parses a log line with a regular expression into a JSON object
// of its groups; "-" and unmatched groups are null.
type logToJSON struct {
	re     *regexp.Regexp
	names  []string
	pretty jsonFormat
}

func parseLogToJSON(v *values) Processor {
	format := v.str("logFormat", "")
	lf, ok := logFormats[format]
	if !ok {
		v.fail("logFormat", "must be one of COMMONAPACHELOG, COMBINEDAPACHELOG, APACHEERRORLOG, SYSLOG, RFC3164SYSLOG, RFC3339SYSLOG, RFC5424SYSLOG; got %q", format)
		return nil
	}
	re := regexp.MustCompile(lf.re)
	names := lf.fields
	if p := v.regexp("matchPattern"); p != nil {
		re = p
		names = nil
	}
	if custom, ok := v.strings("customFieldNames"); ok {
		names = custom
	}
	switch {
	case names == nil:
		v.fail("customFieldNames", "is required with matchPattern")
		return nil
	case len(names) != re.NumSubexp():
		v.fail("customFieldNames", "has %d names for %d groups of the pattern", len(names), re.NumSubexp())
		return nil
	}
	return logToJSON{re, names, parseJSONFormat(v)}
}

func (l logToJSON) Process(rec []byte) ([]byte, error) {
	m := l.re.FindSubmatchIndex(rec)
	if m == nil {
		return nil, fmt.Errorf("record does not match the log format")
	}
	vals := make([]*string, len(l.names))
	for i := range l.names {
		a, b := m[2*i+2], m[2*i+3]
		if a < 0 {
			continue
		}
		s := string(rec[a:b])
		if s != "-" {
			vals[i] = &s
		}
	}
	return l.pretty.object(l.names, vals), nil
}

// addMetadata wraps the record as {"metadata":{…},"timestamp":…,"message":…}.
type addMetadata struct {
	metadata  json.RawMessage
	timestamp bool
	now       func() time.Time
}

func parseAddMetadata(v *values) Processor {
	p := addMetadata{timestamp: v.bool("timestamp", false), now: time.Now}
	r, ok := v.raw("metadata")
	if !ok {
		r = json.RawMessage("{}")
	}
	var m map[string]any
	if json.Unmarshal(r, &m) != nil {
		v.fail("metadata", "must be a JSON object")
	}
	var b bytes.Buffer
	json.Compact(&b, r)
	p.metadata = b.Bytes()
	return p
}

func (a addMetadata) Process(rec []byte) ([]byte, error) {
	out := []byte(`{"metadata":`)
	out = append(out, a.metadata...)
	if a.timestamp {
		out = append(out, `,"timestamp":"`...)
		out = a.now().UTC().AppendFormat(out, "2006-01-02T15:04:05.000Z")
		out = append(out, '"')
	}
	msg, _ := json.Marshal(string(rec))
	out = append(out, `,"message":`...)
	out = append(out, msg...)
	return append(out, '}'), nil
}

// addBrackets wraps the record in square brackets.
type addBrackets struct{}

func (addBrackets) Process(rec []byte) ([]byte, error) {
	out := make([]byte, 0, len(rec)+2)
	out = append(out, '[')
	out = append(out, rec...)
	return append(out, ']'), nil
}
