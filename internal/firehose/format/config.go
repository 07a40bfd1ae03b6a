package format

import (
	"errors"
	"fmt"
	"strings"
)

// Config is a delivery stream's DataFormatConversionConfiguration, with
// the schema given inline: Columns stand for the Glue table that
// SchemaConfiguration names. Field names follow the Firehose API.
type Config struct {
	// Columns are the table's columns in order, as Glue's
	// StorageDescriptor.Columns lists them.
	Columns                   []Column
	InputFormatConfiguration  InputFormatConfiguration
	OutputFormatConfiguration OutputFormatConfiguration
}

// Column is one Glue column: its name and Hive type, e.g. "bigint",
// "decimal(10,2)", "array<struct<id:int,name:string>>".
type Column struct {
	Name string
	Type string
}

// InputFormatConfiguration chooses the JSON deserializer.
type InputFormatConfiguration struct {
	Deserializer Deserializer
}

// Deserializer: exactly one of the two, or neither for OpenXJsonSerDe
// with its defaults.
type Deserializer struct {
	OpenXJsonSerDe *OpenXJsonSerDe
	HiveJsonSerDe  *HiveJsonSerDe
}

// OpenXJsonSerDe is the OpenX JSON SerDe's options.
type OpenXJsonSerDe struct {
	// ConvertDotsInJsonKeysToUnderscores: "a.b" matches column "a_b"
	// (default false).
	ConvertDotsInJsonKeysToUnderscores *bool
	// CaseInsensitive: JSON keys are lowercased before matching (default
	// true).
	CaseInsensitive *bool
	// ColumnToJsonKeyMappings maps a column name to the JSON key that
	// fills it, e.g. {"ts": "timestamp"}.
	ColumnToJsonKeyMappings map[string]string
}

// HiveJsonSerDe is the Hive JSON SerDe's options.
type HiveJsonSerDe struct {
	// TimestampFormats are Joda-Time patterns, or "millis" for epoch
	// milliseconds, tried in order before java.sql.Timestamp's form.
	TimestampFormats []string
}

// OutputFormatConfiguration chooses the serializer.
type OutputFormatConfiguration struct {
	Serializer Serializer
}

// Serializer: exactly one of the two.
type Serializer struct {
	ParquetSerDe *ParquetSerDe
	OrcSerDe     *OrcSerDe
}

// ParquetSerDe is the Parquet writer's options.
type ParquetSerDe struct {
	// BlockSizeBytes: a row group ends once the file reaches a multiple
	// of it (default 256 MiB, at least 64 MiB).
	BlockSizeBytes *int32
	// PageSizeBytes: a page's size before compression (default 1 MiB, at
	// least 64 KiB).
	PageSizeBytes *int32
	// Compression: SNAPPY (default), GZIP or UNCOMPRESSED.
	Compression string
	// EnableDictionaryCompression: dictionary-encode columns (default
	// false).
	EnableDictionaryCompression *bool
	// MaxPaddingBytes pads row groups to HDFS blocks; objects in S3 have
	// no blocks, so it is accepted and has no effect.
	MaxPaddingBytes *int32
	// WriterVersion: V1 (default) or V2 data pages.
	WriterVersion string
}

// OrcSerDe is accepted so a configuration naming it gets a clear error.
type OrcSerDe struct {
	StripeSizeBytes *int32
	BlockSizeBytes  *int32
	Compression     string
	FormatVersion   string
}

// ErrInvalidConfig is wrapped by every error New returns for a
// configuration Firehose would refuse (InvalidArgumentException).
var ErrInvalidConfig = errors.New("invalid data format conversion configuration")

// ErrORCUnsupported is returned by New for OrcSerDe.
var ErrORCUnsupported = errors.New("conversion to ORC is not supported: no maintained Go ORC writer exists; use ParquetSerDe")

// The ParquetSerDe limits and defaults Firehose documents.
const (
	MinBlockSizeBytes     = 64 << 20
	DefaultBlockSizeBytes = 256 << 20
	MinPageSizeBytes      = 64 << 10
	DefaultPageSizeBytes  = 1 << 20
)

// ErrorOutputType is the error output prefix's !{firehose:error-output-type}
// for records that do not convert.
const ErrorOutputType = "format-conversion-failed"

// RejectionCode is the errorCode of a record that does not convert.
const RejectionCode = "DataFormatConversion.MalformedData"

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// deserializerOf checks the input configuration.
func deserializerOf(in InputFormatConfiguration, columns map[string]bool) (*deserializer, error) {
	o, h := in.Deserializer.OpenXJsonSerDe, in.Deserializer.HiveJsonSerDe
	if o != nil && h != nil {
		return nil, invalid("Deserializer names both OpenXJsonSerDe and HiveJsonSerDe; choose one")
	}
	if h != nil {
		ts, err := newHiveTimestamps(h.TimestampFormats)
		if err != nil {
			return nil, invalid("HiveJsonSerDe.TimestampFormats: %v", err)
		}
		// Hive lowercases the keys it reads.
		return &deserializer{hive: true, caseFold: true, hiveTimestamps: ts}, nil
	}
	if o == nil {
		o = &OpenXJsonSerDe{}
	}
	d := &deserializer{
		caseFold:    boolOr(o.CaseInsensitive, true),
		dotsToUnder: boolOr(o.ConvertDotsInJsonKeysToUnderscores, false),
	}
	if len(o.ColumnToJsonKeyMappings) > 0 {
		d.columnKeys = map[string]string{}
		for col, key := range o.ColumnToJsonKeyMappings {
			c := strings.ToLower(col)
			if !columns[c] {
				return nil, invalid("ColumnToJsonKeyMappings names column %q, which the schema does not have", col)
			}
			if key == "" {
				return nil, invalid("ColumnToJsonKeyMappings maps column %q to an empty key", col)
			}
			d.columnKeys[c] = d.normalizeKey(key)
		}
	}
	return d, nil
}
