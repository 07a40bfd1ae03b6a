package analytics

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Values inside the engine are nil (SQL NULL), bool, int64, float64,
// string and time.Time (UTC). Timestamps are printed as KDA prints them.
const timestampLayout = "2006-01-02 15:04:05.000"

// timestampLayouts are the forms a TIMESTAMP column or a string compared
// with a timestamp may take, tried in order.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// parseTimestamp reads a timestamp from text: one of timestampLayouts, or
// a number of milliseconds since the epoch.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// formatValue is a value as text (CSV output, group identity).
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(timestampLayout)
	default:
		return fmt.Sprint(x)
	}
}

// jsonValue is a value as encoding/json should write it.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(timestampLayout)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	}
	return v
}

// toFloat reads a number; ok is false for anything else.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// toInt reads an integer (a float is truncated).
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		s := strings.TrimSpace(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(s, 64)
		return int64(f), err == nil
	}
	return 0, false
}

// toTime reads a timestamp from a time, a string or milliseconds.
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		return parseTimestamp(x)
	case int64:
		return time.UnixMilli(x).UTC(), true
	case float64:
		return time.UnixMilli(int64(x)).UTC(), true
	}
	return time.Time{}, false
}

// compare orders two non-NULL values: numbers numerically, timestamps in
// time (a string beside a timestamp is read as one), anything else as
// text. ok is false when they cannot be compared.
func compare(a, b any) (int, bool) {
	if ta, isT := a.(time.Time); isT {
		tb, ok := toTime(b)
		if !ok {
			return 0, false
		}
		return ta.Compare(tb), true
	}
	if _, isT := b.(time.Time); isT {
		c, ok := compare(b, a)
		return -c, ok
	}
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		switch {
		case ai < bi:
			return -1, true
		case ai > bi:
			return 1, true
		}
		return 0, true
	}
	_, aStr := a.(string)
	_, bStr := b.(string)
	if aStr && bStr {
		return strings.Compare(a.(string), b.(string)), true
	}
	if ab, ok := a.(bool); ok {
		if bb, ok := b.(bool); ok {
			switch {
			case ab == bb:
				return 0, true
			case !ab:
				return -1, true
			}
			return 1, true
		}
	}
	fa, okA := toFloat(a)
	fb, okB := toFloat(b)
	if okA && okB {
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	}
	return strings.Compare(formatValue(a), formatValue(b)), true
}

// castTo converts a value to an SQL type by name (VARCHAR(8), BIGINT,
// REAL, TIMESTAMP, BOOLEAN ...); NULL stays NULL and a value that does
// not convert becomes NULL.
func castTo(v any, sqlType string) any {
	if v == nil {
		return nil
	}
	base, length := splitSQLType(sqlType)
	return castParsed(v, base, length)
}

// castParsed is castTo with the type already split into its base name
// and length (splitSQLType), as a schema keeps it for every record.
func castParsed(v any, base string, length int) any {
	if v == nil {
		return nil
	}
	switch base {
	case "VARCHAR", "CHAR", "CHARACTER", "STRING", "TEXT":
		s := formatValue(v)
		if length > 0 && len(s) > length && utf8.RuneCountInString(s) > length {
			s = string([]rune(s)[:length])
		}
		return s
	case "INTEGER", "INT", "BIGINT", "SMALLINT", "TINYINT", "SIGNED", "UNSIGNED":
		if i, ok := toInt(v); ok {
			return i
		}
	case "REAL", "DOUBLE", "FLOAT", "DECIMAL", "NUMERIC":
		if f, ok := toFloat(v); ok {
			return f
		}
	case "BOOLEAN", "BOOL":
		switch x := v.(type) {
		case bool:
			return x
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b
			}
		default:
			if f, ok := toFloat(v); ok {
				return f != 0
			}
		}
	case "TIMESTAMP", "DATETIME", "DATE":
		if t, ok := toTime(v); ok {
			return t
		}
	}
	return nil
}

// splitSQLType splits "VARCHAR(8)" into "VARCHAR" and 8, "DOUBLE
// PRECISION" into "DOUBLE".
func splitSQLType(t string) (string, int) {
	t = strings.ToUpper(strings.TrimSpace(t))
	length := 0
	if i := strings.IndexByte(t, '('); i >= 0 {
		inner := strings.TrimSuffix(strings.TrimSpace(t[i+1:]), ")")
		inner, _, _ = strings.Cut(inner, ",")
		length, _ = strconv.Atoi(strings.TrimSpace(inner))
		t = strings.TrimSpace(t[:i])
	}
	t, _, _ = strings.Cut(t, " ")
	return t, length
}

// knownSQLType says whether castTo understands a type name.
func knownSQLType(t string) bool {
	base, _ := splitSQLType(t)
	switch base {
	case "VARCHAR", "CHAR", "CHARACTER", "STRING", "TEXT",
		"INTEGER", "INT", "BIGINT", "SMALLINT", "TINYINT", "SIGNED", "UNSIGNED",
		"REAL", "DOUBLE", "FLOAT", "DECIMAL", "NUMERIC",
		"BOOLEAN", "BOOL", "TIMESTAMP", "DATETIME", "DATE":
		return true
	}
	return false
}
