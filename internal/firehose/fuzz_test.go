package firehose

import (
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
