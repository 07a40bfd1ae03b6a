package firehose

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/gojq"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/sink"
)

// pipeline is a delivery stream's processing: decompression, CloudWatch
// Logs message extraction, deaggregation, the transform function,
// metadata extraction for dynamic partitioning and the record delimiter,
// applied in that order whatever order the configuration lists them in,
// as Firehose does.
type pipeline struct {
	gunzip     bool // Decompression
	cwlExtract bool // CloudWatchLogProcessing with DataMessageExtraction
	deagg      bool
	subRecord  string // JSON or DELIMITED
	subDelim   []byte
	query      *gojq.Code
	keys       []string // partition keys the prefix needs from the query
	fnKeys     []string // partition keys the prefix needs from the function
	delim      []byte   // nil: no AppendDelimiterToRecord
	lambda     *transform
	inv        Invoker
}

// procRecord is a record after processing.
type procRecord struct {
	sink.Record
	keys map[string]string
	// partition is the record's partition keys as one string, to group by.
	partition string
	// undelimited is the record's data before AppendDelimiterToRecord,
	// for the error output.
	undelimited []byte
}

// failedRecord is a record that processing refused, for the error output.
type failedRecord struct {
	sink.Record
	code, message string
	lambdaARN     string // set for the transform function's failures
	// kind is the error output type when it is not processing-failed.
	kind string
}

func param(p firehoseapi.Processor, name firehoseapi.ProcessorParameterName) (string, bool) {
	for _, kv := range p.Parameters {
		if awsproto.Value(kv.ParameterName) == name {
			return awsproto.Value(kv.ParameterValue), true
		}
	}
	return "", false
}

// newPipeline checks a ProcessingConfiguration. dynamic is whether
// dynamic partitioning is enabled, prefix the S3 prefix whose
// partitionKeyFromQuery keys the query must give.
func (s *Service) newPipeline(d *deliveryStream, c *firehoseapi.ProcessingConfiguration, dynamic bool, prefix *s3.Template) (*pipeline, error) {
	p := &pipeline{inv: s.opts.Lambda}
	if prefix != nil {
		p.keys, p.fnKeys = prefix.PartitionKeys()
	}
	if c == nil || !awsproto.Value(c.Enabled) {
		if len(p.keys) > 0 {
			return nil, errInvalid("The prefix uses partitionKeyFromQuery, which needs an enabled MetadataExtraction processor.")
		}
		if len(p.fnKeys) > 0 {
			return nil, errInvalid("The prefix uses partitionKeyFromLambda, which needs an enabled Lambda processor.")
		}
		return p, nil
	}
	cwl := false
	for _, pr := range c.Processors {
		switch t := awsproto.Value(pr.Type); t {
		case firehoseapi.ProcessorTypeDecompression:
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameCompressionFormat); ok && v != "GZIP" {
				return nil, errInvalid("The Decompression processor's CompressionFormat %q is not GZIP.", v)
			}
			p.gunzip = true
		case firehoseapi.ProcessorTypeCloudWatchLogProcessing:
			v, ok := param(pr, firehoseapi.ProcessorParameterNameDataMessageExtraction)
			if !ok || (v != "true" && v != "false") {
				return nil, errInvalid("A CloudWatchLogProcessing processor needs DataMessageExtraction true or false.")
			}
			cwl, p.cwlExtract = true, v == "true"
		case firehoseapi.ProcessorTypeAppendDelimiterToRecord:
			p.delim = []byte("\n")
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameDelimiter); ok {
				d, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, errInvalid("The AppendDelimiterToRecord Delimiter %q is not base64.", v)
				}
				p.delim = d
			}
		case firehoseapi.ProcessorTypeRecordDeAggregation:
			p.deagg = true
			p.subRecord = "JSON"
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameSubRecordType); ok {
				p.subRecord = v
			}
			switch p.subRecord {
			case "JSON":
			case "DELIMITED":
				v, ok := param(pr, firehoseapi.ProcessorParameterNameDelimiter)
				d, err := base64.StdEncoding.DecodeString(v)
				if !ok || err != nil || len(d) == 0 {
					return nil, errInvalid("A RecordDeAggregation processor with SubRecordType DELIMITED needs a base64 Delimiter.")
				}
				p.subDelim = d
			default:
				return nil, errInvalid("The RecordDeAggregation SubRecordType %q is not JSON or DELIMITED.", p.subRecord)
			}
		case firehoseapi.ProcessorTypeMetadataExtraction:
			if !dynamic {
				return nil, errInvalid("A MetadataExtraction processor needs dynamic partitioning to be enabled.")
			}
			q, ok := param(pr, firehoseapi.ProcessorParameterNameMetadataExtractionQuery)
			if !ok {
				return nil, errInvalid("A MetadataExtraction processor needs a MetadataExtractionQuery.")
			}
			if eng, ok := param(pr, firehoseapi.ProcessorParameterNameJsonParsingEngine); ok && eng != "JQ-1.6" {
				return nil, errInvalid("The JsonParsingEngine %q is not JQ-1.6.", eng)
			}
			parsed, err := gojq.Parse(q)
			if err != nil {
				return nil, errInvalid("The MetadataExtractionQuery %q is not a jq expression: %v.", q, err)
			}
			code, err := gojq.Compile(parsed)
			if err != nil {
				return nil, errInvalid("The MetadataExtractionQuery %q does not compile: %v.", q, err)
			}
			p.query = code
		case firehoseapi.ProcessorTypeLambda:
			if s.opts.Lambda == nil {
				return nil, errNotSupported("The Lambda processor without the Lambda service")
			}
			arn, ok := param(pr, firehoseapi.ProcessorParameterNameLambdaArn)
			if !ok {
				return nil, errInvalid("A Lambda processor needs a LambdaArn.")
			}
			t := &transform{arn: arn, retries: defaultTransformTries, chunk: defaultTransformChunk, interval: defaultTransformInterval, streamARN: d.ARN, region: d.Region,
				roles: s.opts.Roles, role: lambdaRole(d, pr), session: d.Name}
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameNumberOfRetries); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 300 {
					return nil, errInvalid("The Lambda processor's NumberOfRetries %q is not a number from 0 to 300.", v)
				}
				t.retries = n
			}
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameBufferSizeInMBs); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0.2 || f > 3 {
					return nil, errInvalid("The Lambda processor's BufferSizeInMBs %q is not a number from 0.2 to 3.", v)
				}
				t.chunk = int(f * (1 << 20))
			}
			if v, ok := param(pr, firehoseapi.ProcessorParameterNameBufferIntervalInSeconds); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 900 {
					return nil, errInvalid("The Lambda processor's BufferIntervalInSeconds %q is not a whole number from 0 to 900.", v)
				}
				t.interval = time.Duration(n) * time.Second
			}
			p.lambda = t
		default:
			return nil, errNotSupported("The " + string(t) + " processor")
		}
	}
	if cwl && !p.gunzip {
		return nil, errInvalid("A CloudWatchLogProcessing processor needs a Decompression processor.")
	}
	if len(p.keys) > 0 && p.query == nil {
		return nil, errInvalid("The prefix uses partitionKeyFromQuery, which needs a MetadataExtraction processor.")
	}
	if len(p.fnKeys) > 0 && p.lambda == nil {
		return nil, errInvalid("The prefix uses partitionKeyFromLambda, which needs a Lambda processor.")
	}
	return p, nil
}

// run processes records: decompression, CloudWatch Logs message
// extraction, deaggregation, the transform function, metadata
// extraction, the delimiter. An error means ctx ended.
func (p *pipeline) run(ctx context.Context, in []sink.Record) ([]procRecord, []failedRecord, error) {
	var failed []failedRecord
	if p.gunzip {
		in, failed = p.decompress(in)
	}
	recs := in
	if p.deagg {
		recs = nil
		for _, r := range in {
			subs, err := p.deaggregate(r)
			if err != nil {
				failed = append(failed, failedRecord{Record: r, code: "RecordDeAggregation.Failed", message: err.Error()})
				continue
			}
			recs = append(recs, subs...)
		}
	}
	var fnKeys []map[string]string
	if p.lambda != nil {
		tr, f, err := p.lambda.run(ctx, p.inv, recs)
		if err != nil {
			return nil, nil, err
		}
		for i := range f {
			f[i].lambdaARN = p.lambda.arn
		}
		failed = append(failed, f...)
		recs = make([]sink.Record, len(tr))
		fnKeys = make([]map[string]string, len(tr))
		for i, t := range tr {
			recs[i], fnKeys[i] = t.rec, t.keys
		}
	}
	out := make([]procRecord, 0, len(recs))
	for i, sub := range recs {
		pr := procRecord{Record: sub}
		if fnKeys != nil && len(fnKeys[i]) > 0 {
			pr.keys = maps.Clone(fnKeys[i])
		}
		if missing := missingKey(pr.keys, p.fnKeys); missing != "" {
			failed = append(failed, failedRecord{Record: sub, code: "DynamicPartitioning.PartitionKeysMissing",
				message: fmt.Sprintf("the function gave no partition key %q", missing), lambdaARN: p.lambda.arn})
			continue
		}
		if p.query != nil {
			keys, err := p.extract(sub.Data)
			if err != nil {
				failed = append(failed, failedRecord{Record: sub, code: "DynamicPartitioning.MetadataExtractionFailed", message: err.Error()})
				continue
			}
			if pr.keys == nil {
				pr.keys = keys
			} else {
				maps.Copy(pr.keys, keys)
			}
		}
		if pr.keys != nil {
			pr.partition = partitionString(pr.keys)
		}
		pr.undelimited = pr.Data
		if p.delim != nil {
			d := make([]byte, 0, len(pr.Data)+len(p.delim))
			pr.Data = append(append(d, pr.Data...), p.delim...)
		}
		out = append(out, pr)
	}
	return out, failed, nil
}

// decompress gunzips records and, with message extraction, turns each
// CloudWatch Logs data message into one record per log event. A record
// that fails goes to the error output as it came (compressed).
func (p *pipeline) decompress(in []sink.Record) ([]sink.Record, []failedRecord) {
	var failed []failedRecord
	out := make([]sink.Record, 0, len(in))
	for _, r := range in {
		data, err := gunzip(r.Data)
		if err != nil {
			failed = append(failed, failedRecord{Record: r, code: "Decompression.Failed", message: err.Error(), kind: "decompression-failed"})
			continue
		}
		if !p.cwlExtract {
			out = append(out, sink.Record{ID: r.ID, Data: data, Arrival: r.Arrival})
			continue
		}
		msgs, err := extractMessages(data)
		if err != nil {
			failed = append(failed, failedRecord{Record: r, code: "CloudWatchLogProcessing.Failed", message: err.Error()})
			continue
		}
		for i, m := range msgs {
			out = append(out, sink.Record{ID: r.ID + ".m" + strconv.Itoa(i), Data: m, Arrival: r.Arrival})
		}
	}
	return out, failed
}

func missingKey(keys map[string]string, want []string) string {
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			return k
		}
	}
	return ""
}

// deaggregate splits a record: a KPL aggregate into its user records,
// JSON into its concatenated objects, DELIMITED at the delimiter.
func (p *pipeline) deaggregate(r sink.Record) ([]sink.Record, error) {
	var parts [][]byte
	switch {
	case aggregation.IsAggregated(r.Data):
		urs, err := aggregation.Unmarshal(r.Data)
		if err != nil {
			return nil, err
		}
		for _, u := range urs {
			parts = append(parts, u.Data)
		}
	case p.subRecord == "DELIMITED":
		for _, part := range bytes.Split(r.Data, p.subDelim) {
			if len(part) > 0 {
				parts = append(parts, part)
			}
		}
	default:
		dec := json.NewDecoder(bytes.NewReader(r.Data))
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("the record is not a sequence of JSON objects: %v", err)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, raw); err != nil {
				return nil, err
			}
			parts = append(parts, c.Bytes())
		}
	}
	out := make([]sink.Record, len(parts))
	for i, d := range parts {
		out[i] = sink.Record{ID: r.ID + "." + strconv.Itoa(i), Data: d, Arrival: r.Arrival}
	}
	return out, nil
}

// extract runs the jq query on a JSON record; the result must be an
// object whose values are scalars, and hold every key the prefix uses.
func (p *pipeline) extract(data []byte) (map[string]string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the record is not JSON: %v", err)
	}
	v = normalizeNumbers(v)
	it := p.query.Run(v)
	res, ok := it.Next()
	if !ok {
		return nil, errors.New("the query gave no result")
	}
	if err, isErr := res.(error); isErr {
		return nil, fmt.Errorf("the query failed: %v", err)
	}
	obj, ok := res.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the query gave %T, not an object", res)
	}
	keys := make(map[string]string, len(obj))
	for k, val := range obj {
		switch x := val.(type) {
		case string:
			keys[k] = x
		case nil:
			return nil, fmt.Errorf("the partition key %q is null", k)
		case map[string]any, []any:
			return nil, fmt.Errorf("the partition key %q is not a scalar", k)
		default:
			b, _ := json.Marshal(x)
			keys[k] = string(b)
		}
	}
	for _, k := range p.keys {
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("the query gave no partition key %q", k)
		}
	}
	return keys, nil
}

// normalizeNumbers turns json.Number into the int or float64 gojq
// takes, keeping integers exact.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

func partitionString(keys map[string]string) string {
	ks := make([]string, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(keys[k]))
		b.WriteByte(';')
	}
	return b.String()
}
