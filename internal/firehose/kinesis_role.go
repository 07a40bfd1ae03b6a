package firehose

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/streams"
)

// inProcessEndpoint is the base URL of in-process clients; no connection
// is ever made to it.
const inProcessEndpoint = "http://millrace.internal"

// roleSource reads a Kinesis source through Kinesis's API, in-process,
// as a session of the source's RoleARN: the role's policies must allow
// kinesis:ListShards, kinesis:GetShardIterator and kinesis:GetRecords on
// the stream.
type roleSource struct {
	s      *Service
	d      *deliveryStream
	role   string
	client *awskinesis.Client
}

func (s *Service) roleSource(d *deliveryStream) *roleSource {
	region := d.Region
	if parts := strings.SplitN(awsproto.Value(d.KinesisSource.KinesisStreamARN), ":", 6); len(parts) == 6 {
		region = parts[3]
	}
	return &roleSource{s: s, d: d, role: awsproto.Value(d.KinesisSource.RoleARN), client: awskinesis.New(awskinesis.Options{
		Region: region, BaseEndpoint: aws.String(inProcessEndpoint), RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Transport: awsproto.InProcess(s.opts.Router)},
		// In-process requests made as a role session are not
		// authenticated by their signature.
		Credentials: credentials.NewStaticCredentialsProvider("firehose", "firehose", ""),
	})}
}

func (r *roleSource) as(ctx context.Context) (context.Context, error) {
	return r.s.assume(ctx, r.d, r.role)
}

func (r *roleSource) listShards(ctx context.Context, ref streams.StreamRef, next string) ([]shardInfo, string, error) {
	ctx, err := r.as(ctx)
	if err != nil {
		return nil, "", err
	}
	in := &awskinesis.ListShardsInput{}
	if next != "" {
		in.NextToken = aws.String(next)
	} else {
		in.StreamARN = aws.String(ref.ARN)
	}
	out, err := r.client.ListShards(ctx, in)
	if err != nil {
		return nil, "", err
	}
	shards := make([]shardInfo, len(out.Shards))
	for i, sh := range out.Shards {
		shards[i] = shardInfo{id: aws.ToString(sh.ShardId)}
	}
	return shards, aws.ToString(out.NextToken), nil
}

func (r *roleSource) iterator(ctx context.Context, p streams.IteratorParams) (string, error) {
	ctx, err := r.as(ctx)
	if err != nil {
		return "", err
	}
	in := &awskinesis.GetShardIteratorInput{StreamARN: aws.String(p.Ref.ARN), ShardId: aws.String(p.ShardID),
		ShardIteratorType: ktypes.ShardIteratorType(p.Type), Timestamp: p.Timestamp}
	if p.StartingSequenceNumber != "" {
		in.StartingSequenceNumber = aws.String(p.StartingSequenceNumber)
	}
	out, err := r.client.GetShardIterator(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ShardIterator), nil
}

func (r *roleSource) records(ctx context.Context, ref streams.StreamRef, it string) (*streams.GetRecordsResult, error) {
	ctx, err := r.as(ctx)
	if err != nil {
		return nil, err
	}
	out, err := r.client.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(10000), StreamARN: aws.String(ref.ARN)})
	if err != nil {
		return nil, err
	}
	res := &streams.GetRecordsResult{NextShardIterator: aws.ToString(out.NextShardIterator), Records: make([]streams.Record, len(out.Records))}
	for i, rec := range out.Records {
		res.Records[i] = streams.Record{SequenceNumber: aws.ToString(rec.SequenceNumber), Data: rec.Data, PartitionKey: aws.ToString(rec.PartitionKey)}
		if rec.ApproximateArrivalTimestamp != nil {
			res.Records[i].Arrival = rec.ApproximateArrivalTimestamp.UnixMilli()
		}
	}
	return res, nil
}
