package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Record formats, as KDA's RecordFormatType.
const (
	FormatJSON = "JSON"
	FormatCSV  = "CSV"
)

// Column is one typed column of an input schema (KDA's RecordColumn).
type Column struct {
	Name string `json:"Name"`
	// Mapping is where a JSON record holds the value: a path such as
	// $.ticker, $.order.id, $.items[0].price or $['odd name']. CSV columns
	// are taken in order and need none.
	Mapping string `json:"Mapping,omitempty"`
	SQLType string `json:"SqlType"`
}

// Schema maps a record's bytes to rows of typed columns (KDA's
// SourceSchema).
type Schema struct {
	Format string `json:"RecordFormatType"`
	// RowPath (JSON) is the path of the row within a record, "$" for the
	// whole record; when it leads to an array every element is a row.
	RowPath string `json:"RecordRowPath,omitempty"`
	// RowDelimiter and ColumnDelimiter (CSV) split a record into rows and
	// a row into columns; "\n" and "," by default.
	RowDelimiter    string   `json:"RecordRowDelimiter,omitempty"`
	ColumnDelimiter string   `json:"RecordColumnDelimiter,omitempty"`
	Columns         []Column `json:"RecordColumns"`

	paths [][]pathStep
	// fast holds each column's gjson path when the rows are the whole
	// record ($) and every mapping is names and indices: the values are
	// then read straight from the bytes, without decoding the document.
	fast []string
	// types are the columns' SQL types split by splitSQLType.
	types []sqlType
}

type sqlType struct {
	base   string
	length int
}

type pathStep struct {
	name  string
	index int // -1: a name
}

// compile checks the schema and prepares its paths.
func (s *Schema) compile() error {
	switch s.Format = strings.ToUpper(s.Format); s.Format {
	case FormatJSON:
		if s.RowPath == "" {
			s.RowPath = "$"
		}
	case FormatCSV:
		if s.RowDelimiter == "" {
			s.RowDelimiter = "\n"
		}
		if s.ColumnDelimiter == "" {
			s.ColumnDelimiter = ","
		}
	default:
		return fmt.Errorf("record format %q is not JSON or CSV", s.Format)
	}
	if len(s.Columns) == 0 {
		return fmt.Errorf("the input schema has no columns")
	}
	seen := map[string]bool{}
	s.paths = make([][]pathStep, len(s.Columns))
	for i, c := range s.Columns {
		if c.Name == "" {
			return fmt.Errorf("column %d has no name", i+1)
		}
		if seen[strings.ToUpper(c.Name)] {
			return fmt.Errorf("column %s is declared twice", c.Name)
		}
		seen[strings.ToUpper(c.Name)] = true
		if !knownSQLType(c.SQLType) {
			return fmt.Errorf("column %s has SQL type %q, which is not one of VARCHAR, CHAR, INTEGER, BIGINT, SMALLINT, TINYINT, REAL, DOUBLE, FLOAT, DECIMAL, BOOLEAN, TIMESTAMP, DATE", c.Name, c.SQLType)
		}
		if s.Format != FormatJSON {
			continue
		}
		m := c.Mapping
		if m == "" {
			m = "$." + c.Name
		}
		p, err := parsePath(m)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		s.paths[i] = p
	}
	s.types = make([]sqlType, len(s.Columns))
	for i, c := range s.Columns {
		s.types[i].base, s.types[i].length = splitSQLType(c.SQLType)
	}
	if s.Format == FormatJSON {
		if _, err := parsePath(s.RowPath); err != nil {
			return fmt.Errorf("record row path: %w", err)
		}
		s.fast = nil
		if s.RowPath == "$" {
			s.fast = make([]string, len(s.paths))
			for i, p := range s.paths {
				s.fast[i] = gjsonPath(p)
			}
		}
	}
	return nil
}

// gjsonPath writes a path in gjson's syntax (names and indices joined by
// dots, its special characters escaped).
func gjsonPath(steps []pathStep) string {
	var b strings.Builder
	for i, st := range steps {
		if i > 0 {
			b.WriteByte('.')
		}
		if st.index >= 0 {
			b.WriteString(strconv.Itoa(st.index))
			continue
		}
		for _, r := range st.name {
			if strings.ContainsRune(`.*?|#@\!=<>%"`+"`", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parsePath reads the JSONPath subset KDA mappings use: $ followed by
// .name, ['name'] and [index] steps.
func parsePath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("path %q does not start with $", p)
	}
	var steps []pathStep
	rest := p[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("path %q has an empty name", p)
			}
			steps = append(steps, pathStep{name: rest[:end], index: -1})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q has an unclosed [", p)
			}
			inner := strings.TrimSpace(rest[1:end])
			rest = rest[end+1:]
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				steps = append(steps, pathStep{name: inner[1 : len(inner)-1], index: -1})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q has [%s], which is neither an index nor a quoted name", p, inner)
			}
			steps = append(steps, pathStep{index: n})
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", p, rest[:1])
		}
	}
	return steps, nil
}

func walk(v any, steps []pathStep) any {
	for _, s := range steps {
		if s.index >= 0 {
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil
			}
			v = a[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[s.name]
	}
	return v
}

// Rows maps one record to its rows: each a value per schema column,
// converted to the column's type (a value that does not convert is NULL).
// A record that is not valid for the format is an error (KDA sends it to
// the error stream).
func (s *Schema) Rows(data []byte) ([][]any, error) {
	if s.Format == FormatCSV {
		return s.csvRows(data), nil
	}
	if s.fast != nil && len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '{' {
		if !gjson.ValidBytes(data) {
			return nil, fmt.Errorf("the record is not JSON")
		}
		row := make([]any, len(s.Columns))
		for i := range s.Columns {
			row[i] = castParsed(gjsonScalar(gjson.GetBytes(data, s.fast[i])), s.types[i].base, s.types[i].length)
		}
		return [][]any{row}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("the record is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("the record is not JSON: it goes on after its value")
	}
	rowPath, _ := parsePath(s.RowPath)
	root := walk(doc, rowPath)
	var roots []any
	if a, ok := root.([]any); ok {
		roots = a
	} else if root != nil {
		roots = []any{root}
	} else {
		return nil, fmt.Errorf("the record has nothing at the row path %s", s.RowPath)
	}
	rows := make([][]any, 0, len(roots))
	for _, r := range roots {
		row := make([]any, len(s.Columns))
		for i, c := range s.Columns {
			row[i] = castTo(jsonScalar(walk(r, s.paths[i])), c.SQLType)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// gjsonScalar is jsonScalar for a value gjson found.
func gjsonScalar(r gjson.Result) any {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.False:
		return false
	case gjson.True:
		return true
	case gjson.String:
		return validUTF8(r.Str)
	case gjson.Number:
		if i, err := strconv.ParseInt(r.Raw, 10, 64); err == nil {
			return i
		}
		return r.Num
	case gjson.JSON:
		var v any
		dec := json.NewDecoder(strings.NewReader(r.Raw))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return nil
		}
		return jsonScalar(v)
	}
	return nil
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD, as encoding/json does when it decodes a string (gjson keeps the
// bytes as they are).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// jsonScalar turns a decoded JSON value into an engine value: numbers to
// int64 or float64, objects and arrays to their JSON text.
func jsonScalar(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return v
}

func (s *Schema) csvRows(data []byte) [][]any {
	var rows [][]any
	for _, line := range strings.Split(string(data), s.RowDelimiter) {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		fields := strings.Split(line, s.ColumnDelimiter)
		row := make([]any, len(s.Columns))
		for i, c := range s.Columns {
			if i < len(fields) {
				row[i] = castTo(fields[i], c.SQLType)
			}
		}
		rows = append(rows, row)
	}
	return rows
}
