package format

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Parquet converts JSON records to one Parquet file per batch.
type Parquet struct {
	schema      *parquet.Schema
	columns     []*node
	d           *deserializer
	blockSize   int64
	options     []parquet.WriterOption
	columnCount int
}

var _ sink.Encoder = (*Parquet)(nil)

// New checks a data format conversion configuration and returns its
// encoder. Errors wrap ErrInvalidConfig, or are ErrORCUnsupported.
func New(cfg Config) (*Parquet, error) {
	ser := cfg.OutputFormatConfiguration.Serializer
	switch {
	case ser.ParquetSerDe != nil && ser.OrcSerDe != nil:
		return nil, invalid("Serializer names both ParquetSerDe and OrcSerDe; choose one")
	case ser.OrcSerDe != nil:
		return nil, ErrORCUnsupported
	case ser.ParquetSerDe == nil:
		return nil, invalid("Serializer must name ParquetSerDe or OrcSerDe")
	}
	if len(cfg.Columns) == 0 {
		return nil, invalid("the schema has no columns")
	}
	var nodes []*node
	names := map[string]bool{}
	for i, c := range cfg.Columns {
		name := strings.ToLower(strings.TrimSpace(c.Name))
		if name == "" {
			return nil, invalid("column %d has no name", i)
		}
		if names[name] {
			return nil, invalid("column %q appears twice", c.Name)
		}
		names[name] = true
		t, err := parseType(c.Type)
		if err != nil {
			return nil, invalid("column %q: %v", c.Name, err)
		}
		nodes = append(nodes, newNode(name, t))
	}
	d, err := deserializerOf(cfg.InputFormatConfiguration, names)
	if err != nil {
		return nil, err
	}
	schema, nodes, err := buildNodes(nodes)
	if err != nil {
		return nil, invalid("%v", err)
	}
	p := &Parquet{schema: schema, columns: nodes, d: d, columnCount: len(schema.Columns())}
	if err := p.configure(ser.ParquetSerDe); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parquet) configure(s *ParquetSerDe) error {
	p.blockSize = DefaultBlockSizeBytes
	if s.BlockSizeBytes != nil {
		if *s.BlockSizeBytes < MinBlockSizeBytes {
			return invalid("ParquetSerDe.BlockSizeBytes %d is below the minimum %d", *s.BlockSizeBytes, MinBlockSizeBytes)
		}
		p.blockSize = int64(*s.BlockSizeBytes)
	}
	page := DefaultPageSizeBytes
	if s.PageSizeBytes != nil {
		if *s.PageSizeBytes < MinPageSizeBytes {
			return invalid("ParquetSerDe.PageSizeBytes %d is below the minimum %d", *s.PageSizeBytes, MinPageSizeBytes)
		}
		page = int(*s.PageSizeBytes)
	}
	if s.MaxPaddingBytes != nil && *s.MaxPaddingBytes < 0 {
		return invalid("ParquetSerDe.MaxPaddingBytes %d is negative", *s.MaxPaddingBytes)
	}
	var codec compress.Codec
	switch s.Compression {
	case "", "SNAPPY":
		codec = &parquet.Snappy
	case "GZIP":
		codec = &parquet.Gzip
	case "UNCOMPRESSED":
		codec = &parquet.Uncompressed
	default:
		return invalid("ParquetSerDe.Compression %q is not one of UNCOMPRESSED, GZIP, SNAPPY", s.Compression)
	}
	version := 1
	switch s.WriterVersion {
	case "", "V1":
	case "V2":
		version = 2
	default:
		return invalid("ParquetSerDe.WriterVersion %q is not one of V1, V2", s.WriterVersion)
	}
	p.options = []parquet.WriterOption{
		p.schema,
		parquet.Compression(codec),
		parquet.PageBufferSize(page),
		parquet.DataPageVersion(version),
		parquet.CreatedBy("millrace", "", ""),
	}
	if boolOr(s.EnableDictionaryCompression, false) {
		p.options = append(p.options,
			parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.RLEDictionary),
			parquet.DefaultEncodingFor(parquet.Int32, &parquet.RLEDictionary),
			parquet.DefaultEncodingFor(parquet.Int64, &parquet.RLEDictionary),
			parquet.DefaultEncodingFor(parquet.Float, &parquet.RLEDictionary),
			parquet.DefaultEncodingFor(parquet.Double, &parquet.RLEDictionary),
		)
	}
	return nil
}

// Extension is Firehose's suffix for Parquet objects.
func (p *Parquet) Extension() string { return ".parquet" }

// Schema is the Parquet schema the encoder writes.
func (p *Parquet) Schema() *parquet.Schema { return p.schema }

// Encode writes the records that convert as one Parquet file, one row per
// JSON object (a record may hold several, concatenated). A record with
// any object that does not convert is left out whole and returned as a
// Rejection. With no record converting, body is nil.
func (p *Parquet) Encode(records []sink.Record) ([]byte, []sink.Rejection, error) {
	var failed []sink.Rejection
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, p.options...)
	sh := &shredder{d: p.d, columns: make([][]parquet.Value, p.columnCount)}
	var rows []parquet.Row
	var row parquet.Row
	written := 0
	nextFlush := p.blockSize
	for i, r := range records {
		rows = rows[:0]
		row = row[:0]
		err := p.recordRows(r.Data, sh, &rows, &row)
		if err != nil {
			failed = append(failed, sink.Rejection{Index: i, Code: RejectionCode, Message: err.Error()})
			continue
		}
		if _, err := w.WriteRows(rows); err != nil {
			return nil, nil, fmt.Errorf("format: writing parquet rows: %w", err)
		}
		written += len(rows)
		if w.Size() >= nextFlush {
			if err := w.Flush(); err != nil {
				return nil, nil, fmt.Errorf("format: ending a parquet row group: %w", err)
			}
			nextFlush = (w.Size()/p.blockSize + 1) * p.blockSize
		}
	}
	if written == 0 {
		return nil, failed, nil
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("format: closing parquet file: %w", err)
	}
	return buf.Bytes(), failed, nil
}

// recordRows converts one record's objects to rows appended to *rows; the
// values live in *row's backing array.
func (p *Parquet) recordRows(data []byte, sh *shredder, rows *[]parquet.Row, row *parquet.Row) error {
	objs, err := decodeRecord(data)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		vals, err := p.objectRow(obj, sh)
		if err != nil {
			return err
		}
		start := len(*row)
		*row = append(*row, vals...)
		*rows = append(*rows, (*row)[start:len(*row):len(*row)])
	}
	return nil
}

// objectRow converts one JSON object to the values of one row.
func (p *Parquet) objectRow(obj map[string]any, sh *shredder) (parquet.Row, error) {
	sh.reset()
	fields, err := p.d.fields(obj)
	if err != nil {
		return nil, err
	}
	for _, c := range p.columns {
		v := fields[c.name]
		if key, ok := p.d.columnKeys[c.name]; ok {
			v = fields[key]
		}
		if err := sh.optional(c, v, c.name, 0, 0, 0); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return sh.row(nil), nil
}
