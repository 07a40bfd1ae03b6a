package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/analytics/analyticsapi"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/streams"
)

// discoverSample is how many records DiscoverInputSchema reads.
const discoverSample = 100

func (s *Service) discoverInputSchema(ctx context.Context, in *analyticsapi.DiscoverInputSchemaRequest) (*analyticsapi.DiscoverInputSchemaResponse, error) {
	if err := authorize(ctx, "DiscoverInputSchema", "*"); err != nil {
		return nil, err
	}
	if in.ResourceARN == nil {
		return nil, invalid("Millrace discovers schemas from Kinesis streams: ResourceARN is required (S3Configuration is not supported).")
	}
	ref, err := streamRef(*in.ResourceARN)
	if err != nil {
		return nil, err
	}
	st, err := s.opts.Streams.Describe(ref)
	if err != nil {
		return nil, awsproto.NewError("ResourceProvisionedThroughputExceededException", "Stream %s cannot be read: %v", *in.ResourceARN, err)
	}
	typ := streams.TrimHorizon
	var ts *time.Time
	if p := in.InputStartingPositionConfiguration; p != nil && p.InputStartingPosition != nil && *p.InputStartingPosition != analyticsapi.InputStartingPositionTrimHorizon {
		// NOW samples what arrived in the last minute.
		t := time.Now().Add(-time.Minute)
		typ, ts = streams.AtTimestamp, &t
	}
	var raw [][]byte
	for i := range st.Shards {
		if len(raw) >= discoverSample {
			break
		}
		it, err := s.opts.Streams.GetShardIterator(ctx, streams.IteratorParams{Ref: ref, ShardID: st.Shards[i].ID(), Type: typ, Timestamp: ts})
		if err != nil {
			return nil, err
		}
		res, err := s.opts.Streams.GetRecords(ctx, it, discoverSample-len(raw))
		if err != nil {
			return nil, err
		}
		for _, r := range res.Records {
			raw = append(raw, r.Data)
		}
	}
	if len(raw) == 0 {
		return nil, awsproto.NewError("UnableToDetectSchemaException", "No data was found in the stream %s to discover a schema from.", *in.ResourceARN)
	}
	sc, parsed := inferSchema(raw)
	out := &analyticsapi.DiscoverInputSchemaResponse{InputSchema: fromSchema(sc), ParsedInputRecords: parsed}
	for _, r := range raw {
		out.RawInputRecords = append(out.RawInputRecords, string(r))
		out.ProcessedInputRecords = append(out.ProcessedInputRecords, string(r))
	}
	return out, nil
}

// inferSchema guesses a schema from sample records: JSON objects give a
// column per scalar member (nested members by path, named with _), any
// other text is CSV with COL_1, COL_2 ... Types are the narrowest every
// sample fits: INTEGER, BIGINT, DOUBLE, BOOLEAN, TIMESTAMP or VARCHAR(n).
func inferSchema(raw [][]byte) (Schema, [][]string) {
	allJSON := true
	var docs []map[string]any
	for _, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			allJSON = false
			break
		}
		docs = append(docs, m)
	}
	if allJSON {
		cols := map[string]*colGuess{}
		var order []string
		for _, d := range docs {
			flatten("$", "", d, func(path, name string, v any) {
				g := cols[path]
				if g == nil {
					g = &colGuess{name: name}
					cols[path] = g
					order = append(order, path)
				}
				g.see(v)
			})
		}
		sc := Schema{Format: FormatJSON, RowPath: "$"}
		for _, p := range order {
			sc.Columns = append(sc.Columns, Column{Name: cols[p].name, Mapping: p, SQLType: cols[p].sqlType()})
		}
		var parsed [][]string
		for _, d := range docs {
			var row []string
			for _, p := range order {
				steps, _ := parsePath(p)
				row = append(row, formatValue(jsonScalar(walk(map[string]any(d), steps))))
			}
			parsed = append(parsed, row)
		}
		return sc, parsed
	}
	var guesses []*colGuess
	var parsed [][]string
	for _, r := range raw {
		for _, line := range strings.Split(string(r), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" {
				continue
			}
			fields := strings.Split(line, ",")
			for i, f := range fields {
				if i >= len(guesses) {
					guesses = append(guesses, &colGuess{name: "COL_" + strconv.Itoa(i+1)})
				}
				guesses[i].see(f)
			}
			parsed = append(parsed, fields)
		}
	}
	sc := Schema{Format: FormatCSV, RowDelimiter: "\n", ColumnDelimiter: ","}
	for _, g := range guesses {
		sc.Columns = append(sc.Columns, Column{Name: g.name, SQLType: g.sqlType()})
	}
	return sc, parsed
}

func flatten(path, prefix string, m map[string]any, fn func(path, name string, v any)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := path + "." + k
		if strings.ContainsAny(k, ".[]'\" ") {
			p = path + "['" + k + "']"
		}
		name := k
		if prefix != "" {
			name = prefix + "_" + k
		}
		if sub, ok := m[k].(map[string]any); ok {
			flatten(p, name, sub, fn)
			continue
		}
		fn(p, name, m[k])
	}
}

type colGuess struct {
	name                          string
	seen, ints, bigs, nums, bools int
	times, maxLen                 int
}

func (g *colGuess) see(v any) {
	if v == nil {
		return
	}
	g.seen++
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				g.ints++
			} else {
				g.bigs++
			}
		} else {
			g.nums++
		}
		return
	case bool:
		g.bools++
		return
	case string:
		s := strings.TrimSpace(x)
		g.maxLen = max(g.maxLen, len([]rune(x)))
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				g.ints++
			} else {
				g.bigs++
			}
			return
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			g.nums++
			return
		}
		if len(s) >= 10 && strings.ContainsAny(s, "-:") {
			if _, ok := parseTimestamp(s); ok {
				g.times++
			}
		}
		return
	default:
		b, _ := json.Marshal(x)
		g.maxLen = max(g.maxLen, len(b))
	}
}

func (g *colGuess) sqlType() string {
	switch {
	case g.seen == 0:
		return "VARCHAR(16)"
	case g.ints == g.seen:
		return "INTEGER"
	case g.ints+g.bigs == g.seen:
		return "BIGINT"
	case g.ints+g.bigs+g.nums == g.seen:
		return "DOUBLE"
	case g.bools == g.seen:
		return "BOOLEAN"
	case g.times == g.seen:
		return "TIMESTAMP"
	}
	n := 4
	for n < g.maxLen {
		n *= 2
	}
	return "VARCHAR(" + strconv.Itoa(n) + ")"
}
