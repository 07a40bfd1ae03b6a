package firehose_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
	"github.com/millrace/millrace/internal/firehose/opensearch/bulktest"
	"github.com/millrace/millrace/internal/firehose/splunk/hectest"
)

func putRecords(t *testing.T, c *fh.Client, stream string, data func(i int) string, n int) {
	t.Helper()
	recs := make([]fhtypes.Record, n)
	for i := range recs {
		recs[i].Data = []byte(data(i))
	}
	out, err := c.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch: %v", err)
	}
}

func backupBucket() *fhtypes.S3DestinationConfiguration {
	return &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::backup"), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose")}
}

// errorRecords decodes the error output objects under prefix.
func errorRecords(t *testing.T, e *env, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, k := range e.s3.keys(prefix) {
		for _, line := range strings.Split(strings.TrimSpace(string(e.s3.get(k))), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestOpenSearchDestination indexes records with _bulk on the contract
// server through the OpenSearch and the Elasticsearch configurations; a
// document the cluster refuses goes to the error output, and with
// AllDocuments every record goes to the backup bucket.
func TestOpenSearchDestination(t *testing.T) {
	os := bulktest.StartTLS(t)
	e := newEnv(t, func(o *firehose.Options) { o.HTTPClient = os.Client() })
	c := e.firehose()
	ctx := t.Context()
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("os"),
		AmazonopensearchserviceDestinationConfiguration: &fhtypes.AmazonopensearchserviceDestinationConfiguration{
			ClusterEndpoint: aws.String(os.URL), IndexName: aws.String("logs"), IndexRotationPeriod: fhtypes.AmazonopensearchserviceIndexRotationPeriodNoRotation,
			RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"), S3Configuration: backupBucket(),
			BufferingHints: &fhtypes.AmazonopensearchserviceBufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("es"),
		ElasticsearchDestinationConfiguration: &fhtypes.ElasticsearchDestinationConfiguration{
			ClusterEndpoint: aws.String(os.URL), IndexName: aws.String("legacy"), TypeName: aws.String("_doc"), IndexRotationPeriod: fhtypes.ElasticsearchIndexRotationPeriodNoRotation,
			S3BackupMode: fhtypes.ElasticsearchS3BackupModeAllDocuments,
			RoleARN:      aws.String("arn:aws:iam::123456789012:role/firehose"), S3Configuration: backupBucket(),
			BufferingHints: &fhtypes.ElasticsearchBufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		}}); err != nil {
		t.Fatal(err)
	}
	o := waitActive(t, c, "os").Destinations[0].AmazonopensearchserviceDestinationDescription
	if o == nil || aws.ToString(o.ClusterEndpoint) != os.URL || o.S3BackupMode != fhtypes.AmazonopensearchserviceS3BackupModeFailedDocumentsOnly ||
		aws.ToInt32(o.RetryOptions.DurationInSeconds) != 300 || aws.ToString(o.S3DestinationDescription.BucketARN) != "arn:aws:s3:::backup" {
		t.Fatalf("AmazonopensearchserviceDestinationDescription %+v", o)
	}
	es := waitActive(t, c, "es").Destinations[0]
	if d := es.ElasticsearchDestinationDescription; d == nil || es.AmazonopensearchserviceDestinationDescription != nil ||
		aws.ToString(d.IndexName) != "legacy" || aws.ToString(d.TypeName) != "_doc" {
		t.Fatalf("Elasticsearch destination described as %+v", es)
	}
	putRecords(t, c, "os", func(i int) string {
		if i == 7 {
			return `{"bad":1}` // the contract server refuses it (mapper_parsing_exception)
		}
		return fmt.Sprintf(`{"n":%d}`, i)
	}, 120)
	putRecords(t, c, "es", func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }, 30)
	eventually(t, "documents in logs and legacy and the refused one in the error output", func() bool {
		return os.Count("logs") == 119 && os.Count("legacy") == 30 && len(e.s3.keys("backup/AmazonOpenSearchService-failed/")) > 0
	})
	// Their deliveries are counted under their own metric names.
	dests := map[string]string{}
	for _, st := range e.svc.Stats() {
		dests[st.Name] = st.Destination
	}
	if dests["os"] != "AmazonOpenSearchService" || dests["es"] != "Elasticsearch" {
		t.Errorf("metric destinations %v", dests)
	}
	// AllDocuments: every source record of es is in the backup bucket too.
	eventually(t, "es's records in the backup bucket", func() bool {
		var all string
		for _, k := range e.s3.keys("backup/2") {
			all += string(e.s3.get(k))
		}
		return strings.Count(all, `{"n":`) == 30
	})
	for id, doc := range os.Docs("logs") {
		if !strings.HasPrefix(id, "os-") || !json.Valid([]byte(doc)) {
			t.Fatalf("document %s: %s", id, doc)
		}
	}
	failed := errorRecords(t, e, "backup/AmazonOpenSearchService-failed/")
	if raw, _ := base64.StdEncoding.DecodeString(fmt.Sprint(failed[0]["rawData"])); len(failed) != 1 || string(raw) != `{"bad":1}` ||
		failed[0]["errorCode"] != "mapper_parsing_exception" {
		t.Errorf("error output %v", failed)
	}
}

// TestSplunkDestination sends records to the HEC contract server's event
// endpoint with indexer acknowledgement; an update switches to the raw
// endpoint.
func TestSplunkDestination(t *testing.T) {
	hec := hectest.StartTLS(t)
	e := newEnv(t, func(o *firehose.Options) { o.HTTPClient = hec.Client() })
	c := e.firehose()
	ctx := t.Context()
	if _, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("sp"),
		SplunkDestinationConfiguration: &fhtypes.SplunkDestinationConfiguration{
			HECEndpoint: aws.String(hec.URL), HECEndpointType: fhtypes.HECEndpointTypeEvent, HECToken: aws.String(hec.Token), S3Configuration: backupBucket(),
			BufferingHints: &fhtypes.SplunkBufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		}}); err != nil {
		t.Fatal(err)
	}
	d := waitActive(t, c, "sp")
	s := d.Destinations[0].SplunkDestinationDescription
	if s == nil || aws.ToString(s.HECEndpoint) != hec.URL || aws.ToInt32(s.HECAcknowledgmentTimeoutInSeconds) != 180 ||
		s.S3BackupMode != fhtypes.SplunkS3BackupModeFailedEventsOnly {
		t.Fatalf("SplunkDestinationDescription %+v", s)
	}
	putRecords(t, c, "sp", func(i int) string { return fmt.Sprintf(`{"event":{"n":%d}}`, i) }, 50)
	eventually(t, "50 events", func() bool { return len(hec.Events()) >= 50 })
	seen := map[string]bool{}
	for _, ev := range hec.Events() {
		seen[ev] = true
	}
	for i := range 50 {
		if !seen[fmt.Sprintf(`{"n":%d}`, i)] {
			t.Fatalf("event %d missing from %v", i, hec.Events())
		}
	}

	// The HEC server holds the events before the delivery that sent them
	// returns and is counted.
	eventually(t, "sp's metrics to count 50 Splunk deliveries", func() bool {
		for _, st := range e.svc.Stats() {
			if st.Name == "sp" && st.Destination == "Splunk" && st.Counters.DeliveryRecords.Load() >= 50 {
				return true
			}
		}
		return false
	})

	if _, err := c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("sp"), CurrentDeliveryStreamVersionId: d.VersionId,
		DestinationId: d.Destinations[0].DestinationId, SplunkDestinationUpdate: &fhtypes.SplunkDestinationUpdate{HECEndpointType: fhtypes.HECEndpointTypeRaw}}); err != nil {
		t.Fatal(err)
	}
	putRecords(t, c, "sp", func(i int) string { return fmt.Sprintf("raw line %d\n", i) }, 3)
	eventually(t, "the raw body", func() bool {
		for _, ev := range hec.Events() {
			if strings.Contains(ev, "raw line 2\n") {
				return true
			}
		}
		return false
	})
}
