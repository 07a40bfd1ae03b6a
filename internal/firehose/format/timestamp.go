package format

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// jodaLayout translates a Joda-Time pattern, as HiveJsonSerDe's
// TimestampFormats take them (e.g. "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"), into
// a Go time layout. Letters outside the table are refused, so a pattern
// the SerDe would read differently fails at configuration time.
func jodaLayout(pattern string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			// Quoted literal; '' is a quote.
			j := i + 1
			if j < len(pattern) && pattern[j] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			for j < len(pattern) {
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(pattern[j])
				j++
			}
			if j >= len(pattern) {
				return "", fmt.Errorf("timestamp format %q: unterminated quote", pattern)
			}
			i = j + 1
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			if c >= '0' && c <= '9' {
				return "", fmt.Errorf("timestamp format %q: digits must be quoted", pattern)
			}
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		i += n
		var s string
		switch {
		case c == 'y' || c == 'Y' || c == 'u':
			if n == 2 {
				s = "06"
			} else {
				s = "2006"
			}
		case c == 'M' && n == 1:
			s = "1"
		case c == 'M' && n == 2:
			s = "01"
		case c == 'M' && n == 3:
			s = "Jan"
		case c == 'M':
			s = "January"
		case c == 'd' && n == 1:
			s = "2"
		case c == 'd' && n == 2:
			s = "02"
		case c == 'H' && n <= 2:
			s = "15"
		case c == 'h' && n == 1:
			s = "3"
		case c == 'h' && n == 2:
			s = "03"
		case c == 'm' && n == 1:
			s = "4"
		case c == 'm' && n == 2:
			s = "04"
		case c == 's' && n == 1:
			s = "5"
		case c == 's' && n == 2:
			s = "05"
		case c == 'S':
			// Go reads fractional seconds as a run of 0s or 9s right
			// after a '.' or ','.
			out := b.String()
			if !strings.HasSuffix(out, ".") && !strings.HasSuffix(out, ",") {
				return "", fmt.Errorf("timestamp format %q: fraction of second must follow '.' or ','", pattern)
			}
			s = strings.Repeat("9", n)
		case c == 'a' && n == 1:
			s = "PM"
		case c == 'E' && n <= 3:
			s = "Mon"
		case c == 'E':
			s = "Monday"
		case c == 'Z' && n == 1:
			s = "-0700"
		case c == 'Z' && n == 2:
			s = "-07:00"
		case c == 'z' && n <= 3:
			s = "MST"
		case c == 'X' && n == 1:
			s = "Z07"
		case c == 'X' && n == 2:
			s = "Z0700"
		case c == 'X' && n == 3:
			s = "Z07:00"
		default:
			return "", fmt.Errorf("timestamp format %q: pattern letter %q (x%d) is not supported", pattern, string(c), n)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// epochMillisLimit: an integer timestamp at or above this magnitude is
// read as epoch milliseconds, below it as epoch seconds (1e11 seconds is
// the year 5138; 1e11 milliseconds is March 1973).
const epochMillisLimit = 1e11

var errTimestamp = errors.New("not a timestamp")

// parseSQLTimestamp reads java.sql.Timestamp.valueOf's form,
// "yyyy-[M]M-[d]d HH:mm:ss[.f...]", in UTC.
func parseSQLTimestamp(s string) (time.Time, error) {
	// Go's "1" and "2" accept one or two digits, and Parse accepts a
	// fraction after the seconds though the layout has none.
	if len(s) < 14 || strings.IndexByte(s, ' ') < 0 {
		return time.Time{}, errTimestamp
	}
	return time.Parse("2006-1-2 15:04:05", s)
}

// parseOpenXTimestamp reads what OpenXJsonSerDe accepts for a timestamp
// column: ISO 8601 with a 'T' ("yyyy-MM-dd'T'HH:mm:ss[.S]'Z'", or an
// offset), the SQL form "yyyy-[M]M-[d]d HH:mm:ss[.S]", and numbers as epoch
// seconds, epoch milliseconds (see epochMillisLimit) or fractional epoch
// seconds.
func parseOpenXTimestamp(v any) (time.Time, error) {
	switch v := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
		if t, err := time.Parse("2006-01-02T15:04:05", v); err == nil {
			return t, nil
		}
		if t, err := parseSQLTimestamp(v); err == nil {
			return t, nil
		}
		if t, err := parseEpoch(v); err == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%q is not a timestamp OpenXJsonSerDe reads (ISO 8601, yyyy-MM-dd HH:mm:ss[.S], or epoch seconds or milliseconds)", v)
	case jsonNumber:
		return parseEpoch(string(v))
	}
	return time.Time{}, fmt.Errorf("a %s is not a timestamp", jsonKind(v))
}

func parseEpoch(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n >= epochMillisLimit || n <= -epochMillisLimit {
			return time.UnixMilli(n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return time.Time{}, fmt.Errorf("%q is not an epoch time", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

// hiveTimestamps reads timestamps as HiveJsonSerDe does: by each of its
// TimestampFormats in turn ("millis" is epoch milliseconds), then by
// java.sql.Timestamp.valueOf.
type hiveTimestamps struct {
	layouts []string // "" stands for millis
}

func newHiveTimestamps(formats []string) (*hiveTimestamps, error) {
	h := &hiveTimestamps{}
	for _, f := range formats {
		if f == "millis" {
			h.layouts = append(h.layouts, "")
			continue
		}
		l, err := jodaLayout(f)
		if err != nil {
			return nil, err
		}
		h.layouts = append(h.layouts, l)
	}
	return h, nil
}

func (h *hiveTimestamps) parse(v any) (time.Time, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case jsonNumber:
		s = string(v)
	default:
		return time.Time{}, fmt.Errorf("a %s is not a timestamp", jsonKind(v))
	}
	for _, l := range h.layouts {
		if l == "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return time.UnixMilli(n).UTC(), nil
			}
			continue
		}
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	if t, err := parseSQLTimestamp(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q matches none of the timestamp formats (TimestampFormats, then yyyy-MM-dd HH:mm:ss[.fffffffff])", s)
}
