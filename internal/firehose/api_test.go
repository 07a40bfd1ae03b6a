package firehose_test

import (
	"github.com/millrace/millrace/internal/firehose"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	ctx := t.Context()
	out, err := c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String("logs"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::b"), RoleARN: aws.String("arn:aws:iam::123456789012:role/r")},
		Tags:                               []fhtypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.DeliveryStreamARN), "arn:aws:firehose:us-east-1:123456789012:deliverystream/logs"; got != want {
		t.Fatalf("ARN %s, want %s", got, want)
	}
	d := waitActive(t, c, "logs")
	if aws.ToString(d.VersionId) != "1" || d.DeliveryStreamType != fhtypes.DeliveryStreamTypeDirectPut || len(d.Destinations) != 1 {
		t.Fatalf("description %+v", d)
	}
	dst := d.Destinations[0]
	if aws.ToString(dst.DestinationId) != "destinationId-000000000001" || dst.ExtendedS3DestinationDescription == nil || dst.S3DestinationDescription == nil {
		t.Fatalf("destination %+v", dst)
	}
	ext := dst.ExtendedS3DestinationDescription
	if aws.ToInt32(ext.BufferingHints.SizeInMBs) != 5 || aws.ToInt32(ext.BufferingHints.IntervalInSeconds) != 300 ||
		ext.CompressionFormat != fhtypes.CompressionFormatUncompressed || ext.EncryptionConfiguration.NoEncryptionConfig != fhtypes.NoEncryptionConfigNoEncryption {
		t.Fatalf("defaults %+v", ext)
	}

	list, err := c.ListDeliveryStreams(ctx, &fh.ListDeliveryStreamsInput{})
	if err != nil || len(list.DeliveryStreamNames) != 1 || list.DeliveryStreamNames[0] != "logs" || aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("list %+v %v", list, err)
	}
	tags, err := c.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("logs")})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "data" {
		t.Fatalf("tags %+v %v", tags, err)
	}
	if _, err := c.TagDeliveryStream(ctx, &fh.TagDeliveryStreamInput{DeliveryStreamName: aws.String("logs"),
		Tags: []fhtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagDeliveryStream(ctx, &fh.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("logs"), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("logs")})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "ops" {
		t.Fatalf("tags after tag and untag %+v", tags.Tags)
	}

	if _, err := c.StartDeliveryStreamEncryption(ctx, &fh.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	d = waitActive(t, c, "logs")
	if d.DeliveryStreamEncryptionConfiguration.Status != fhtypes.DeliveryStreamEncryptionStatusEnabled ||
		d.DeliveryStreamEncryptionConfiguration.KeyType != fhtypes.KeyTypeAwsOwnedCmk {
		t.Fatalf("encryption %+v", d.DeliveryStreamEncryptionConfiguration)
	}
	put, err := c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("logs"), Record: &fhtypes.Record{Data: []byte("x")}})
	if err != nil || !aws.ToBool(put.Encrypted) || aws.ToString(put.RecordId) == "" {
		t.Fatalf("put %+v %v", put, err)
	}
	if _, err := c.StopDeliveryStreamEncryption(ctx, &fh.StopDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}

	if _, err := c.DeleteDeliveryStream(ctx, &fh.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("logs")})
	msg := apiError(t, err, "ResourceNotFoundException")
	if !strings.Contains(msg, "logs") || !strings.Contains(msg, "123456789012") {
		t.Fatalf("message %q", msg)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	createS3(t, c, "taken", s3Dest("b"))
	role := aws.String("arn:aws:iam::123456789012:role/r")
	cases := []struct {
		name string
		in   fh.CreateDeliveryStreamInput
		code string
		msg  string
	}{
		{"exists", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("taken"), ExtendedS3DestinationConfiguration: s3Dest("b")},
			"ResourceInUseException", "already exists"},
		{"no destination", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x")}, "InvalidArgumentException", "Exactly one destination"},
		{"two destinations", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b"),
			S3DestinationConfiguration: &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::b"), RoleARN: role}},
			"InvalidArgumentException", "2 were"},
		{"not wired", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), AmazonOpenSearchServerlessDestinationConfiguration: &fhtypes.AmazonOpenSearchServerlessDestinationConfiguration{
			IndexName: aws.String("i"), RoleARN: role,
			S3Configuration: &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::b"), RoleARN: role}}},
			"InvalidArgumentException", "AmazonOpenSearchServerlessDestinationConfiguration is not supported"},
		{"splunk secret", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), SplunkDestinationConfiguration: &fhtypes.SplunkDestinationConfiguration{
			HECEndpoint: aws.String("https://splunk"), HECEndpointType: fhtypes.HECEndpointTypeRaw,
			SecretsManagerConfiguration: &fhtypes.SecretsManagerConfiguration{Enabled: aws.Bool(true)},
			S3Configuration:             &fhtypes.S3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::b"), RoleARN: role}}},
			"InvalidArgumentException", "SecretsManagerConfiguration"},
		{"orc", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) {
				c.DataFormatConversionConfiguration = &fhtypes.DataFormatConversionConfiguration{
					InputFormatConfiguration:  &fhtypes.InputFormatConfiguration{Deserializer: &fhtypes.Deserializer{HiveJsonSerDe: &fhtypes.HiveJsonSerDe{}}},
					OutputFormatConfiguration: &fhtypes.OutputFormatConfiguration{Serializer: &fhtypes.Serializer{OrcSerDe: &fhtypes.OrcSerDe{}}},
					SchemaConfiguration:       &fhtypes.SchemaConfiguration{DatabaseName: aws.String("db"), TableName: aws.String("t")}}
			})}, "InvalidArgumentException", "Glue table db.t was not found"},
		{"bad name", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("a b"), ExtendedS3DestinationConfiguration: s3Dest("b")},
			"ValidationException", "deliveryStreamName"},
		{"buffer too big", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) { c.BufferingHints.SizeInMBs = aws.Int32(129) })},
			"ValidationException", "less than or equal to 128"},
		{"bucket not an ARN", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:sqs:::b"), RoleARN: role}}, "ValidationException", "bucketARN"},
		{"expression without error prefix", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) { c.Prefix = aws.String("y=!{timestamp:yyyy}/") })},
			"InvalidArgumentException", "ErrorOutputPrefix is required"},
		{"partition key without dynamic partitioning", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) {
				c.Prefix = aws.String("k=!{partitionKeyFromQuery:k}/")
				c.ErrorOutputPrefix = aws.String("err/!{firehose:error-output-type}/")
			})}, "InvalidArgumentException", "dynamic partitioning"},
		{"unknown namespace", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) {
				c.Prefix = aws.String("!{nope:x}/")
				c.ErrorOutputPrefix = aws.String("err/")
			})}, "InvalidArgumentException", "unknown namespace"},
		{"lambda processor", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b",
			func(c *fhtypes.ExtendedS3DestinationConfiguration) {
				c.ProcessingConfiguration = &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{
					Type: fhtypes.ProcessorTypeLambda, Parameters: []fhtypes.ProcessorParameter{{ParameterName: fhtypes.ProcessorParameterNameLambdaArn, ParameterValue: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f")}}}}}
			})}, "InvalidArgumentException", "Lambda processor"},
		{"kinesis source without config", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
			ExtendedS3DestinationConfiguration: s3Dest("b")}, "InvalidArgumentException", "KinesisStreamSourceConfiguration is required"},
		{"kinesis source missing", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
			KinesisStreamSourceConfiguration:   &fhtypes.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/none"), RoleARN: role},
			ExtendedS3DestinationConfiguration: s3Dest("b")}, "InvalidArgumentException", "not a Kinesis stream that exists"},
		{"customer key without ARN", fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b"),
			DeliveryStreamEncryptionConfigurationInput: &fhtypes.DeliveryStreamEncryptionConfigurationInput{KeyType: fhtypes.KeyTypeCustomerManagedCmk}},
			"InvalidArgumentException", "KeyARN is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateDeliveryStream(t.Context(), &tc.in)
			if msg := apiError(t, err, tc.code); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}
}

func TestStreamLimit(t *testing.T) {
	e := newEnv(t, func(o *firehose.Options) { o.StreamLimit = 2 })
	c := e.firehose()
	createS3(t, c, "a", s3Dest("b"))
	createS3(t, c, "b", s3Dest("b"))
	_, err := c.CreateDeliveryStream(t.Context(), &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("c"), ExtendedS3DestinationConfiguration: s3Dest("b")})
	apiError(t, err, "LimitExceededException")
	list, err := c.ListDeliveryStreams(t.Context(), &fh.ListDeliveryStreamsInput{Limit: aws.Int32(1)})
	if err != nil || len(list.DeliveryStreamNames) != 1 || !aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("list %+v %v", list, err)
	}
	list, err = c.ListDeliveryStreams(t.Context(), &fh.ListDeliveryStreamsInput{ExclusiveStartDeliveryStreamName: aws.String("a")})
	if err != nil || len(list.DeliveryStreamNames) != 1 || list.DeliveryStreamNames[0] != "b" {
		t.Fatalf("list after a %+v %v", list, err)
	}
}

func TestPutErrors(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	ctx := t.Context()
	_, err := c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("none"), Record: &fhtypes.Record{Data: []byte("x")}})
	apiError(t, err, "ResourceNotFoundException")
	createS3(t, c, "p", s3Dest("b", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.BufferingHints.IntervalInSeconds = aws.Int32(900)
	}))

	recs := make([]fhtypes.Record, 501)
	for i := range recs {
		recs[i].Data = []byte("x")
	}
	_, err = c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("p"), Records: recs})
	apiError(t, err, "ValidationException")
	_, err = c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("p"), Record: &fhtypes.Record{Data: make([]byte, 1024001)}})
	apiError(t, err, "ValidationException")
	big := make([]fhtypes.Record, 5)
	for i := range big {
		big[i].Data = make([]byte, 1000*1024)
	}
	_, err = c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("p"), Records: big})
	if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, "4 MB") {
		t.Fatalf("message %q", msg)
	}
	out, err := c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("p"), Records: recs[:500]})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != 500 {
		t.Fatalf("batch of 500: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range out.RequestResponses {
		if r.RecordId == nil || r.ErrorCode != nil || seen[*r.RecordId] {
			t.Fatalf("response entry %+v", r)
		}
		seen[*r.RecordId] = true
	}

	// A Kinesis-source delivery stream takes no Direct PUT.
	kc := e.kinesis()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("src"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stream ACTIVE", func() bool {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("src")})
		return err == nil && string(d.StreamDescriptionSummary.StreamStatus) == "ACTIVE"
	})
	_, err = c.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("k"), DeliveryStreamType: fhtypes.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &fhtypes.KinesisStreamSourceConfiguration{KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/src"),
			RoleARN: aws.String("arn:aws:iam::123456789012:role/r")},
		ExtendedS3DestinationConfiguration: s3Dest("b")})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "k")
	_, err = c.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("k"), Records: recs[:1]})
	if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, "KinesisStreamAsSource") {
		t.Fatalf("message %q", msg)
	}
}

func TestUpdateDestination(t *testing.T) {
	e := newEnv(t)
	c := e.firehose()
	ctx := t.Context()
	createS3(t, c, "u", s3Dest("b"))
	_, err := c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("7"),
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("new/")}})
	apiError(t, err, "ConcurrentModificationException")
	_, err = c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String("destinationId-000000000009"), ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("new/")}})
	apiError(t, err, "InvalidArgumentException")
	_, err = c.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String("destinationId-000000000001"), ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{
			Prefix: aws.String("new/"), CompressionFormat: fhtypes.CompressionFormatGzip}})
	if err != nil {
		t.Fatal(err)
	}
	d := waitActive(t, c, "u")
	ext := d.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToString(d.VersionId) != "2" || aws.ToString(ext.Prefix) != "new/" || ext.CompressionFormat != fhtypes.CompressionFormatGzip ||
		aws.ToString(ext.BucketARN) != "arn:aws:s3:::b" || d.LastUpdateTimestamp == nil {
		t.Fatalf("after update: version %s %+v", aws.ToString(d.VersionId), ext)
	}
	if _, err := c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("u"), Record: &fhtypes.Record{Data: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an object under new/", func() bool { return len(e.s3.keys("b/new/")) == 1 })
	key := e.s3.keys("b/new/")[0]
	if !strings.Contains(key, "/u-2-") || !strings.HasSuffix(key, ".gz") {
		t.Fatalf("key %s: want the version 2 and .gz", key)
	}
}
