package kinesis

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// maxDescribeShards is the most shards DescribeStream returns in one call,
// whatever Limit says (AWS caps it at 100).
const maxDescribeShards = 100

// maxListStreams is the most streams ListStreams returns in one call.
const maxListStreams = 100

func (svc *Service) createStream(ctx context.Context, in *kinesisapi.CreateStreamInput) (*awsproto.Empty, error) {
	account, region := caller(ctx)
	p := streams.CreateParams{
		Account: account, Region: region, Name: awsproto.Value(in.StreamName),
		ShardCount:       int(awsproto.Value(in.ShardCount)),
		MaxRecordSizeKiB: int(awsproto.Value(in.MaxRecordSizeInKiB)),
		Tags:             in.Tags,
	}
	if in.StreamModeDetails != nil {
		p.Mode = string(awsproto.Value(in.StreamModeDetails.StreamMode))
	}
	p.WarmThroughputMiBps = int(awsproto.Value(in.WarmThroughputMiBps))
	return nil, svc.s.CreateStream(ctx, p)
}

func (svc *Service) deleteStream(ctx context.Context, in *kinesisapi.DeleteStreamInput) (*awsproto.Empty, error) {
	return nil, svc.s.DeleteStream(ctx, streamRef(ctx, in.StreamName, in.StreamARN), awsproto.Value(in.EnforceConsumerDeletion))
}

func (svc *Service) describeStream(ctx context.Context, in *kinesisapi.DescribeStreamInput) (*kinesisapi.DescribeStreamOutput, error) {
	st, err := svc.s.Describe(streamRef(ctx, in.StreamName, in.StreamARN))
	if err != nil {
		return nil, err
	}
	limit := int(awsproto.Value(in.Limit))
	if limit <= 0 || limit > maxDescribeShards {
		limit = maxDescribeShards
	}
	after := int64(-1)
	if in.ExclusiveStartShardId != nil {
		after = shardIndex(*in.ExclusiveStartShardId)
	}
	shards := make([]kinesisapi.Shard, 0, min(limit, len(st.Shards)))
	more := false
	for i := range st.Shards {
		sh := &st.Shards[i]
		if int64(sh.Index) <= after {
			continue
		}
		if len(shards) == limit {
			more = true
			break
		}
		shards = append(shards, shardShape(st, sh))
	}
	return &kinesisapi.DescribeStreamOutput{StreamDescription: &kinesisapi.StreamDescription{
		StreamName:              ptr(st.Name),
		StreamARN:               ptr(st.ARN),
		StreamStatus:            ptr(kinesisapi.StreamStatus(st.Status)),
		StreamModeDetails:       modeShape(st),
		Shards:                  shards,
		HasMoreShards:           ptr(more),
		RetentionPeriodHours:    ptr(int32(st.RetentionHours)),
		StreamCreationTimestamp: timestamp(st.CreatedAt),
		EnhancedMonitoring:      monitoringShape(st),
		EncryptionType:          encryptionShape(st),
		KeyId:                   keyID(st),
	}}, nil
}

// shardIndex reads the number at the end of a shard id ("shardId-000000000001",
// and the short "shardId-1" AWS also accepts). An id without one sorts
// before every shard.
func shardIndex(id string) int64 {
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func shardShape(st *streams.Stream, sh *streams.Shard) kinesisapi.Shard {
	out := kinesisapi.Shard{
		ShardId: ptr(sh.ID()),
		HashKeyRange: &kinesisapi.HashKeyRange{
			StartingHashKey: ptr(sh.StartingHashKey.String()),
			EndingHashKey:   ptr(sh.EndingHashKey.String()),
		},
		SequenceNumberRange: &kinesisapi.SequenceNumberRange{
			StartingSequenceNumber: ptr(st.StartingSequenceNumber(sh)),
		},
	}
	if end := st.EndingSequenceNumber(sh); end != "" {
		out.SequenceNumberRange.EndingSequenceNumber = ptr(end)
	}
	if sh.ParentIndex >= 0 {
		out.ParentShardId = ptr((&streams.Shard{Index: uint32(sh.ParentIndex)}).ID())
	}
	if sh.AdjacentParentIndex >= 0 {
		out.AdjacentParentShardId = ptr((&streams.Shard{Index: uint32(sh.AdjacentParentIndex)}).ID())
	}
	return out
}

func modeShape(st *streams.Stream) *kinesisapi.StreamModeDetails {
	return &kinesisapi.StreamModeDetails{StreamMode: ptr(kinesisapi.StreamMode(st.Mode))}
}

// monitoringShape is the EnhancedMonitoring list: one entry, with an empty
// metric list when enhanced monitoring is off (as AWS reports it).
func monitoringShape(st *streams.Stream) []kinesisapi.EnhancedMetrics {
	return []kinesisapi.EnhancedMetrics{{ShardLevelMetrics: metricNames(st.ShardLevelMetrics)}}
}

func metricNames(ms []string) []kinesisapi.MetricsName {
	out := make([]kinesisapi.MetricsName, len(ms))
	for i, m := range ms {
		out[i] = kinesisapi.MetricsName(m)
	}
	return out
}

func encryptionShape(st *streams.Stream) *kinesisapi.EncryptionType {
	if st.EncryptionType == "" {
		return ptr(kinesisapi.EncryptionTypeNone)
	}
	return ptr(kinesisapi.EncryptionType(st.EncryptionType))
}

func keyID(st *streams.Stream) *string {
	if st.KeyID == "" {
		return nil
	}
	return ptr(st.KeyID)
}

func timestamp(ms int64) *awsproto.Timestamp { return awsproto.TimestampPtr(time.UnixMilli(ms)) }

// describeStreamSummary never returns StreamId: a client that receives one
// may route later calls to AWS despite a custom endpoint.
func (svc *Service) describeStreamSummary(ctx context.Context, in *kinesisapi.DescribeStreamSummaryInput) (*kinesisapi.DescribeStreamSummaryOutput, error) {
	st, err := svc.s.Describe(streamRef(ctx, in.StreamName, in.StreamARN))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.DescribeStreamSummaryOutput{StreamDescriptionSummary: &kinesisapi.StreamDescriptionSummary{
		StreamName:              ptr(st.Name),
		StreamARN:               ptr(st.ARN),
		StreamStatus:            ptr(kinesisapi.StreamStatus(st.Status)),
		StreamModeDetails:       modeShape(st),
		RetentionPeriodHours:    ptr(int32(st.RetentionHours)),
		StreamCreationTimestamp: timestamp(st.CreatedAt),
		EnhancedMonitoring:      monitoringShape(st),
		EncryptionType:          encryptionShape(st),
		KeyId:                   keyID(st),
		OpenShardCount:          ptr(int32(len(st.OpenShards()))),
		ConsumerCount:           ptr(int32(st.ConsumerCount(time.Now()))),
		MaxRecordSizeInKiB:      ptr(int32(st.MaxRecordSizeKiB)),
		WarmThroughput:          svc.warmShape(st),
	}}, nil
}

func (svc *Service) listStreams(ctx context.Context, in *kinesisapi.ListStreamsInput) (*kinesisapi.ListStreamsOutput, error) {
	account, region := caller(ctx)
	limit := int(awsproto.Value(in.Limit))
	if limit <= 0 || limit > maxListStreams {
		limit = maxListStreams
	}
	page, err := svc.s.ListStreams(streams.ListParams{
		Account: account, Region: region,
		ExclusiveStart: awsproto.Value(in.ExclusiveStartStreamName),
		NextToken:      awsproto.Value(in.NextToken),
		Limit:          limit,
	})
	if err != nil {
		return nil, err
	}
	out := &kinesisapi.ListStreamsOutput{
		StreamNames:     make([]string, len(page.Streams)),
		StreamSummaries: make([]kinesisapi.StreamSummary, len(page.Streams)),
		HasMoreStreams:  ptr(page.HasMore),
	}
	for i, st := range page.Streams {
		out.StreamNames[i] = st.Name
		out.StreamSummaries[i] = kinesisapi.StreamSummary{
			StreamName:              ptr(st.Name),
			StreamARN:               ptr(st.ARN),
			StreamStatus:            ptr(kinesisapi.StreamStatus(st.Status)),
			StreamModeDetails:       modeShape(st),
			StreamCreationTimestamp: timestamp(st.CreatedAt),
		}
	}
	if page.NextToken != "" {
		out.NextToken = ptr(page.NextToken)
	}
	return out, nil
}

func (svc *Service) describeLimits(ctx context.Context, _ *kinesisapi.DescribeLimitsInput) (*kinesisapi.DescribeLimitsOutput, error) {
	l := svc.s.DescribeLimits(caller(ctx))
	return &kinesisapi.DescribeLimitsOutput{
		ShardLimit:               ptr(int32(l.ShardLimit)),
		OpenShardCount:           ptr(int32(l.OpenShardCount)),
		OnDemandStreamCount:      ptr(int32(l.OnDemandStreamCount)),
		OnDemandStreamCountLimit: ptr(int32(l.OnDemandStreamCountLimit)),
	}, nil
}

func (svc *Service) updateMaxRecordSize(ctx context.Context, in *kinesisapi.UpdateMaxRecordSizeInput) (*awsproto.Empty, error) {
	return nil, svc.s.UpdateMaxRecordSize(ctx, streamRef(ctx, nil, in.StreamARN), int(awsproto.Value(in.MaxRecordSizeInKiB)))
}
