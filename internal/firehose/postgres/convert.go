package postgres

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// column is one column COPY loads, and whether it holds characters: as in
// Redshift, an empty field loads as NULL into any other type.
type column struct {
	name string
	text bool
}

// converter turns a batch's records into the CSV that PostgreSQL's COPY
// reads, one record at a time so that a record that does not parse can be
// skipped (MAXERROR) and handed back whole.
type converter struct {
	o      *copyOptions
	cols   []column
	byName map[string]int // JSON keys to column indexes
}

func newConverter(o *copyOptions, cols []column) *converter {
	c := &converter{o: o, cols: cols, byName: map[string]int{}}
	for i, col := range cols {
		name := col.name
		if o.jsonIgnoreCase {
			name = strings.ToLower(name)
		}
		c.byName[name] = i
	}
	return c
}

// convert returns the CSV body, its row count and the records that did not
// parse. Every value is quoted and NULL is an unquoted empty field, so
// COPY ... WITH (FORMAT csv) tells them apart.
func (c *converter) convert(records []sink.Record) (body []byte, rows int, bad []sink.Rejection) {
	var out bytes.Buffer
	header := c.o.ignoreHeader
	var recRows [][]*string
	for i, r := range records {
		recRows = recRows[:0]
		var err error
		recRows, err = c.record(r.Data, recRows, &header)
		if err != nil {
			bad = append(bad, sink.Rejection{Index: i, Code: RejectionCode, Message: err.Error()})
			continue
		}
		for _, row := range recRows {
			writeCSVRow(&out, row)
		}
		rows += len(recRows)
	}
	return out.Bytes(), rows, bad
}

// RejectionCode is the error code of a record that COPY's input format
// could not read.
const RejectionCode = "Redshift.InvalidInput"

func writeCSVRow(out *bytes.Buffer, row []*string) {
	for i, v := range row {
		if i > 0 {
			out.WriteByte(',')
		}
		if v == nil {
			continue
		}
		out.WriteByte('"')
		out.WriteString(strings.ReplaceAll(*v, `"`, `""`))
		out.WriteByte('"')
	}
	out.WriteByte('\n')
}

func (c *converter) record(data []byte, rows [][]*string, header *int) ([][]*string, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("the record is not UTF-8")
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("the record has a NUL byte, which PostgreSQL text cannot hold")
	}
	switch c.o.format {
	case formatJSON:
		return c.jsonRows(data, rows)
	case formatCSV:
		return c.csvRows(data, rows, header)
	}
	return c.delimitedRows(data, rows, header)
}

func (c *converter) jsonRows(data []byte, rows [][]*string) ([][]*string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, errors.New("the record has no JSON object")
			}
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("JSON 'auto' needs objects, one per row")
		}
		row := make([]*string, len(c.cols))
		for k, v := range obj {
			if c.o.jsonIgnoreCase {
				k = strings.ToLower(k)
			}
			i, ok := c.byName[k]
			if !ok {
				continue
			}
			row[i] = jsonText(v)
		}
		rows = append(rows, row)
		n++
	}
}

// jsonText is a JSON value as COPY receives it: strings as they are,
// numbers and booleans as their text, objects and arrays as JSON text.
func jsonText(v any) *string {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		s = v
	case json.Number:
		s = string(v)
	case bool:
		if v {
			s = "true"
		} else {
			s = "false"
		}
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	return &s
}

func (c *converter) csvRows(data []byte, rows [][]*string, header *int) ([][]*string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = rune(c.o.delimiter)
	r.FieldsPerRecord = -1
	line := 0
	for {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("CSV: %v", err)
		}
		if *header > 0 {
			*header--
			continue
		}
		row, err := c.fieldsRow(fields, line)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// delimitedRows reads Redshift's default text input: lines of fields
// between delimiters; with ESCAPE a backslash makes the next character
// data (a delimiter, a newline, a backslash); with REMOVEQUOTES a field in
// double quotes loses them and may hold delimiters.
func (c *converter) delimitedRows(data []byte, rows [][]*string, header *int) ([][]*string, error) {
	var fields []string
	var cur strings.Builder
	inQuote, lineHasData := false, false
	line := 1
	endLine := func() error {
		fields = append(fields, cur.String())
		cur.Reset()
		defer func() { fields = fields[:0]; lineHasData = false; line++ }()
		if *header > 0 {
			*header--
			return nil
		}
		if !lineHasData && len(fields) == 1 && c.o.ignoreBlank {
			return nil
		}
		row, err := c.fieldsRow(fields, line)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	}
	for i := 0; i < len(data); i++ {
		b := data[i]
		lineHasData = true
		switch {
		case c.o.escape && b == '\\' && i+1 < len(data):
			i++
			cur.WriteByte(data[i])
		case c.o.removeQuotes && b == '"' && (inQuote || cur.Len() == 0):
			inQuote = !inQuote
		case inQuote:
			cur.WriteByte(b)
		case b == c.o.delimiter:
			fields = append(fields, cur.String())
			cur.Reset()
		case b == '\n':
			lineHasData = len(fields) > 0 || cur.Len() > 0
			if err := endLine(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(b)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("line %d: unterminated quoted field", line)
	}
	if lineHasData || len(fields) > 0 || cur.Len() > 0 {
		if err := endLine(); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// fieldsRow applies NULL AS, EMPTYASNULL, BLANKSASNULL, TRIMBLANKS and
// FILLRECORD to one line's fields.
func (c *converter) fieldsRow(fields []string, line int) ([]*string, error) {
	if len(fields) > len(c.cols) {
		return nil, fmt.Errorf("line %d: extra column(s) found: %d fields for %d columns", line, len(fields), len(c.cols))
	}
	if len(fields) < len(c.cols) && !c.o.fillRecord {
		return nil, fmt.Errorf("line %d: delimiter not found: %d fields for %d columns (FILLRECORD loads missing trailing columns as NULL)", line, len(fields), len(c.cols))
	}
	row := make([]*string, len(c.cols))
	for i, f := range fields {
		col := c.cols[i]
		if c.o.trimBlanks && col.text {
			f = strings.TrimRight(f, " ")
		}
		switch {
		case f == c.o.null:
		case f == "" && (c.o.emptyAsNull || !col.text):
		case c.o.blanksAsNull && strings.TrimSpace(f) == "":
		default:
			v := f
			row[i] = &v
		}
	}
	return row, nil
}
