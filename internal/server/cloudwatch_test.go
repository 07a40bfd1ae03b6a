package server_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// cloudWatchClients returns the Go SDK's CloudWatch client as it ships
// (RPC v2 CBOR) and one speaking AWS JSON 1.0, as boto3 and the CLI do.
func cloudWatchClients(srv *servertest.Server) map[string]*cloudwatch.Client {
	client := func(json bool) *cloudwatch.Client {
		return cloudwatch.New(cloudwatch.Options{
			Region:           servertest.Region,
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(servertest.AccessKeyID, servertest.SecretAccessKey, ""),
			RetryMaxAttempts: 1,
			HTTPClient:       srv.HTTPClient(),
		}, func(o *cloudwatch.Options) {
			if json {
				o.Protocol = awsjson.New10(schemas.GraniteServiceVersion20100801)
			}
		})
	}
	return map[string]*cloudwatch.Client{"rpcv2-cbor": client(false), "json-1.0": client(true)}
}

// sumOf adds the Sum of every datapoint.
func sumOf(dps []cwtypes.Datapoint) float64 {
	var n float64
	for _, dp := range dps {
		n += aws.ToFloat64(dp.Sum)
	}
	return n
}

func streamDims(name string, more ...cwtypes.Dimension) []cwtypes.Dimension {
	return append([]cwtypes.Dimension{{Name: aws.String("StreamName"), Value: aws.String(name)}}, more...)
}

func TestCloudWatchKinesisMetrics(t *testing.T) {
	srv := servertest.Start(t)
	kc := srv.Kinesis()
	ctx := t.Context()
	createStream(t, kc, "cw", 2)
	if _, err := kc.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{
		StreamName: aws.String("cw"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords},
	}); err != nil {
		t.Fatal(err)
	}
	perShard, perShardPutRecord := map[string]float64{}, map[string]float64{}
	var entries []types.PutRecordsRequestEntry
	for i := 0; i < 7; i++ {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("key-", i)), Data: []byte("data")})
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("cw"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v", err)
	}
	for _, r := range out.Records {
		perShard[aws.ToString(r.ShardId)]++
	}
	for i := 0; i < 3; i++ {
		r, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cw"), PartitionKey: aws.String(fmt.Sprint("k", i)), Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		perShard[aws.ToString(r.ShardId)]++
		perShardPutRecord[aws.ToString(r.ShardId)]++
	}
	const records = 10

	start, end := time.Now().Add(-10*time.Minute), time.Now().Add(5*time.Minute)
	check := func(t *testing.T) {
		for name, cw := range cloudWatchClients(srv) {
			t.Run(name, func(t *testing.T) {
				st, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
					Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords"),
					Dimensions: streamDims("cw"), StartTime: aws.Time(start), EndTime: aws.Time(end),
					Period: aws.Int32(60), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
				})
				if err != nil {
					t.Fatal(err)
				}
				if got := sumOf(st.Datapoints); got != records {
					t.Fatalf("IncomingRecords Sum = %v over %d datapoints, want %d", got, len(st.Datapoints), records)
				}
				var puts float64
				for _, dp := range st.Datapoints {
					puts += aws.ToFloat64(dp.SampleCount)
					if dp.Unit != cwtypes.StandardUnitCount || dp.Timestamp.Second() != 0 {
						t.Errorf("datapoint %+v: want unit Count and a minute-aligned timestamp", dp)
					}
				}
				if puts != 4 || aws.ToString(st.Label) != "IncomingRecords" {
					t.Errorf("SampleCount = %v (want 4 puts), label %q", puts, aws.ToString(st.Label))
				}

				// Shard level, enabled for IncomingRecords only.
				for shard, want := range perShard {
					st, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
						Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords"),
						Dimensions: streamDims("cw", cwtypes.Dimension{Name: aws.String("ShardId"), Value: aws.String(shard)}),
						StartTime:  aws.Time(start), EndTime: aws.Time(end),
						Period: aws.Int32(300), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
					})
					if err != nil {
						t.Fatal(err)
					}
					if got := sumOf(st.Datapoints); got != want {
						t.Errorf("%s IncomingRecords Sum = %v, want %v", shard, got, want)
					}
					// PutRecords stored in both shards: one sample each,
					// and one per PutRecord that landed there.
					var samples float64
					for _, dp := range st.Datapoints {
						samples += aws.ToFloat64(dp.SampleCount)
					}
					if samples != 1+perShardPutRecord[shard] {
						t.Errorf("%s IncomingRecords SampleCount = %v, want %v", shard, samples, 1+perShardPutRecord[shard])
					}
				}

				// Latency: a histogram, with percentiles.
				lat, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
					Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("PutRecord.Latency"),
					Dimensions: streamDims("cw"), StartTime: aws.Time(start), EndTime: aws.Time(end),
					Period: aws.Int32(900), ExtendedStatistics: []string{"p50", "p99.9"},
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(lat.Datapoints) == 0 || lat.Datapoints[0].ExtendedStatistics["p99.9"] <= 0 ||
					lat.Datapoints[0].Unit != cwtypes.StandardUnitMilliseconds {
					t.Errorf("PutRecord.Latency datapoints %+v: want p99.9 above 0 ms", lat.Datapoints)
				}

				data, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
					StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: cwtypes.ScanByTimestampAscending,
					MetricDataQueries: []cwtypes.MetricDataQuery{{
						Id: aws.String("in"), Label: aws.String("records in"),
						MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{
							Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords"), Dimensions: streamDims("cw"),
						}, Period: aws.Int32(60), Stat: aws.String("Sum")},
					}, {
						Id: aws.String("ok"),
						MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{
							Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("PutRecord.Success"), Dimensions: streamDims("cw"),
						}, Period: aws.Int32(60), Stat: aws.String("Minimum")},
					}},
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(data.MetricDataResults) != 2 {
					t.Fatalf("GetMetricData returned %d results", len(data.MetricDataResults))
				}
				in := data.MetricDataResults[0]
				var got float64
				for _, v := range in.Values {
					got += v
				}
				if got != records || aws.ToString(in.Label) != "records in" || in.StatusCode != cwtypes.StatusCodeComplete || len(in.Timestamps) != len(in.Values) {
					t.Errorf("GetMetricData result %+v: want values adding up to %d", in, records)
				}
				for _, v := range data.MetricDataResults[1].Values {
					if v != 1 {
						t.Errorf("PutRecord.Success Minimum = %v, want 1 (every call succeeded)", v)
					}
				}

				lm, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{
					Namespace:  aws.String("AWS/Kinesis"),
					Dimensions: []cwtypes.DimensionFilter{{Name: aws.String("StreamName"), Value: aws.String("cw")}},
				})
				if err != nil {
					t.Fatal(err)
				}
				// No filter at all: an empty input.
				if all, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{}); err != nil || len(all.Metrics) < len(lm.Metrics) {
					t.Errorf("ListMetrics without filters: %v", err)
				}
				listed := map[string]bool{}
				for _, m := range lm.Metrics {
					key := aws.ToString(m.MetricName)
					for _, d := range m.Dimensions {
						key += " " + aws.ToString(d.Name) + "=" + aws.ToString(d.Value)
					}
					listed[key] = true
				}
				for shard := range perShard {
					if !listed["IncomingRecords StreamName=cw ShardId="+shard] {
						t.Errorf("ListMetrics does not list %s's IncomingRecords: %v", shard, listed)
					}
				}
				if !listed["IncomingRecords StreamName=cw"] || !listed["PutRecords.Success StreamName=cw"] || listed["OutgoingRecords StreamName=cw ShardId=shardId-000000000000"] {
					t.Errorf("ListMetrics listed %v", listed)
				}
			})
		}
	}
	t.Run("live", check)
	// Stopping writes the open minute; after the restart the counters are
	// zero and every figure comes from storage.
	srv.Restart(t)
	t.Run("after restart", check)
}

func TestCloudWatchValidation(t *testing.T) {
	srv := servertest.Start(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Minute)
	stats := func(mod func(*cloudwatch.GetMetricStatisticsInput)) *cloudwatch.GetMetricStatisticsInput {
		in := &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords"),
			Dimensions: streamDims("s"), StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
			Period: aws.Int32(60), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum},
		}
		mod(in)
		return in
	}
	for name, cw := range cloudWatchClients(srv) {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				name     string
				call     func() error
				code     string
				typed    any
				contains string
			}{
				{"period not a multiple of 60", func() error {
					_, err := cw.GetMetricStatistics(ctx, stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.Period = aws.Int32(90) }))
					return err
				}, "InvalidParameterValue", new(*cwtypes.InvalidParameterValueException), "The parameter Period must be a multiple of 60."},
				{"too many datapoints", func() error {
					_, err := cw.GetMetricStatistics(ctx, stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.StartTime = aws.Time(now.Add(-48 * time.Hour)) }))
					return err
				}, "InvalidParameterCombination", new(*cwtypes.InvalidParameterCombinationException), "You have requested up to 2,880 datapoints, which exceeds the limit of 1,440."},
				{"both statistics", func() error {
					_, err := cw.GetMetricStatistics(ctx, stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.ExtendedStatistics = []string{"p99"} }))
					return err
				}, "InvalidParameterCombination", new(*cwtypes.InvalidParameterCombinationException), "mutually exclusive"},
				{"bad percentile", func() error {
					_, err := cw.GetMetricStatistics(ctx, stats(func(in *cloudwatch.GetMetricStatisticsInput) {
						in.Statistics, in.ExtendedStatistics = nil, []string{"p101"}
					}))
					return err
				}, "InvalidParameterValue", new(*cwtypes.InvalidParameterValueException), "The value p101 for parameter ExtendedStatistics is not supported"},
				{"start after end", func() error {
					_, err := cw.GetMetricStatistics(ctx, stats(func(in *cloudwatch.GetMetricStatisticsInput) { in.StartTime = aws.Time(now.Add(time.Hour)) }))
					return err
				}, "InvalidParameterValue", new(*cwtypes.InvalidParameterValueException), "The parameter StartTime must be less than the parameter EndTime."},
				{"expression", func() error {
					_, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
						StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
						MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("e1"), Expression: aws.String("SUM(METRICS())")}},
					})
					return err
				}, "InvalidParameterValue", new(*cwtypes.InvalidParameterValueException), "MetricDataQueries.member.1.Expression is not supported"},
				{"bad query id", func() error {
					_, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
						StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
						MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("Bad"), MetricStat: &cwtypes.MetricStat{
							Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords")},
							Period: aws.Int32(60), Stat: aws.String("Sum")}}},
					})
					return err
				}, "InvalidParameterValue", new(*cwtypes.InvalidParameterValueException), "The value Bad for parameter MetricDataQueries.member.1.Id is not valid"},
				{"bad token", func() error {
					_, err := cw.ListMetrics(ctx, &cloudwatch.ListMetricsInput{NextToken: aws.String("nonsense!")})
					return err
				}, "InvalidNextToken", new(*cwtypes.InvalidNextToken), "invalid token"},
			} {
				err := c.call()
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != c.code {
					t.Errorf("%s: error %v, want code %s", c.name, err, c.code)
					continue
				}
				if !errors.As(err, c.typed) {
					t.Errorf("%s: error %T is not the modeled %T", c.name, err, c.typed)
				}
				if !strings.Contains(api.ErrorMessage(), c.contains) {
					t.Errorf("%s: message %q, want it to contain %q", c.name, api.ErrorMessage(), c.contains)
				}
			}
			// An operation not served is 501, never a fake success.
			_, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "NotImplemented" {
				t.Errorf("DescribeAlarms: %v, want NotImplemented", err)
			}
		})
	}
}

// TestCloudWatchAuthorization: with authentication on, signatures for the
// signing name monitoring are verified (over the RPC v2 path too) and the
// actions cloudwatch:<Operation> are checked against the caller's policies.
func TestCloudWatchAuthorization(t *testing.T) {
	const account = "111122223333"
	srv := servertest.Start(t, func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = account
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account}},
			Users: []config.User{
				{Name: "viewer", AccessKeys: []config.AccessKey{{ID: "AKIAVIEWEREXAMPLE001", Secret: "viewer-secret"}},
					Policies: []config.PolicyConfig{{Name: "read", Document: `{"Version":"2012-10-17","Statement":[
						{"Effect":"Allow","Action":["cloudwatch:GetMetricStatistics","cloudwatch:ListMetrics"],"Resource":"*"}]}`}}},
				{Name: "writer", AccessKeys: []config.AccessKey{{ID: "AKIAWRITEREXAMPLE001", Secret: "writer-secret"}},
					Policies: []config.PolicyConfig{{Name: "kinesis", Document: `{"Version":"2012-10-17","Statement":[
						{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}`}}},
			},
		}
	})
	ctx := t.Context()
	as := func(cw *cloudwatch.Client, key, secret string) *cloudwatch.Client {
		return cloudwatch.New(cw.Options(), func(o *cloudwatch.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "")
		})
	}
	now := time.Now().Truncate(time.Minute)
	in := &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("AWS/Kinesis"), MetricName: aws.String("IncomingRecords"), Dimensions: streamDims("s"),
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(60),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticSum},
	}
	for name, cw := range cloudWatchClients(srv) {
		t.Run(name, func(t *testing.T) {
			viewer := as(cw, "AKIAVIEWEREXAMPLE001", "viewer-secret")
			if _, err := viewer.GetMetricStatistics(ctx, in); err != nil {
				t.Errorf("viewer GetMetricStatistics: %v", err)
			}
			if _, err := viewer.ListMetrics(ctx, &cloudwatch.ListMetricsInput{}); err != nil {
				t.Errorf("viewer ListMetrics: %v", err)
			}
			var api smithy.APIError
			if _, err := viewer.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
				StartTime: in.StartTime, EndTime: in.EndTime, MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("m"),
					MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: in.Namespace, MetricName: in.MetricName}, Period: aws.Int32(60), Stat: aws.String("Sum")}}},
			}); !errors.As(err, &api) || !strings.Contains(api.ErrorCode(), "AccessDenied") || !strings.Contains(api.ErrorMessage(), "cloudwatch:GetMetricData") {
				t.Errorf("viewer GetMetricData (not allowed): %v", err)
			}
			writer := as(cw, "AKIAWRITEREXAMPLE001", "writer-secret")
			if _, err := writer.GetMetricStatistics(ctx, in); !errors.As(err, &api) || !strings.Contains(api.ErrorCode(), "AccessDenied") {
				t.Errorf("writer GetMetricStatistics (not allowed): %v", err)
			}
			bad := as(cw, "AKIAVIEWEREXAMPLE001", "wrong-secret")
			if _, err := bad.ListMetrics(ctx, &cloudwatch.ListMetricsInput{}); !errors.As(err, &api) || api.ErrorCode() == "" {
				t.Errorf("a wrong secret was accepted: %v", err)
			}
		})
	}
}
