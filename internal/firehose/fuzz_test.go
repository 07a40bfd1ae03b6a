package firehose

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/sink"
)

// FuzzPipeline runs records through deaggregation and jq metadata
// extraction: every record comes out processed or failed, never lost.
func FuzzPipeline(f *testing.F) {
	for _, s := range []string{`{"a":1}{"a":2}`, `{"k":"v"}`, `not json`, `{"k":null}`, `[1,2]`, "{\"k\": 1.5}\n{\"k\":true}"} {
		f.Add([]byte(s))
	}
	prefix, err := s3.ParsePrefix("k=!{partitionKeyFromQuery:k}/", true)
	if err != nil {
		f.Fatal(err)
	}
	svc := New(Options{})
	p, err := svc.newPipeline(&deliveryStream{}, &firehoseapi.ProcessingConfiguration{Enabled: awsproto.Ptr(true), Processors: []firehoseapi.Processor{
		{Type: awsproto.Ptr(firehoseapi.ProcessorTypeRecordDeAggregation)},
		{Type: awsproto.Ptr(firehoseapi.ProcessorTypeMetadataExtraction), Parameters: []firehoseapi.ProcessorParameter{{
			ParameterName: awsproto.Ptr(firehoseapi.ProcessorParameterNameMetadataExtractionQuery), ParameterValue: awsproto.Ptr("{k: .k}")}}},
		{Type: awsproto.Ptr(firehoseapi.ProcessorTypeAppendDelimiterToRecord)},
	}}, true, prefix)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, failed, err := p.run(t.Context(), []sink.Record{{ID: "r", Data: data, Arrival: time.Unix(0, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 && len(failed) == 0 {
			return // an empty JSON sequence deaggregates to nothing
		}
		for _, r := range out {
			if _, ok := r.keys["k"]; !ok {
				t.Fatalf("record %q has no partition key k", r.Data)
			}
		}
	})
}

// FuzzCloudWatchLogs runs records, as given and GZIP-compressed, through
// decompression and CloudWatch Logs message extraction: each comes out
// as its messages or failed with the input kept, never lost or both.
func FuzzCloudWatchLogs(f *testing.F) {
	for _, s := range []string{
		`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"a"},{"message":"b"}]}`,
		`{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}`,
		`{"messageType":"OTHER"}`, `{"logEvents":[]}`, `{"messageType":"DATA_MESSAGE","logEvents":[{}]}`, `not json`, "\x1f\x8b\x08",
	} {
		f.Add([]byte(s))
	}
	svc := New(Options{})
	p, err := svc.newPipeline(&deliveryStream{}, &firehoseapi.ProcessingConfiguration{Enabled: awsproto.Ptr(true), Processors: []firehoseapi.Processor{
		{Type: awsproto.Ptr(firehoseapi.ProcessorTypeCloudWatchLogProcessing), Parameters: []firehoseapi.ProcessorParameter{{
			ParameterName: awsproto.Ptr(firehoseapi.ProcessorParameterNameDataMessageExtraction), ParameterValue: awsproto.Ptr("true")}}},
		{Type: awsproto.Ptr(firehoseapi.ProcessorTypeDecompression)},
	}}, false, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		for _, in := range [][]byte{data, z.Bytes()} {
			out, failed, err := p.run(t.Context(), []sink.Record{{ID: "r", Data: in, Arrival: time.Unix(0, 0)}})
			if err != nil {
				t.Fatal(err)
			}
			plain, gzErr := gunzip(in)
			msgs, exErr := extractMessages(plain)
			switch {
			case gzErr != nil || exErr != nil:
				if len(out) != 0 || len(failed) != 1 || !bytes.Equal(failed[0].Data, in) {
					t.Fatalf("input %q: %d records out and %d failed, want it failed as it came", in, len(out), len(failed))
				}
				if (gzErr != nil) != (failed[0].kind == "decompression-failed") {
					t.Fatalf("input %q failed as %q (%v, %v)", in, failed[0].kind, gzErr, exErr)
				}
			default:
				if len(failed) != 0 || len(out) != len(msgs) {
					t.Fatalf("input %q: %d records out and %d failed, want %d", in, len(out), len(failed), len(msgs))
				}
				for i := range msgs {
					if !bytes.Equal(out[i].Data, msgs[i]) {
						t.Fatalf("message %d is %q, want %q", i, out[i].Data, msgs[i])
					}
				}
			}
		}
	})
}
