package server_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// scrape fetches url and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// series returns the value of the series of family name whose labels
// include want (a counter's or gauge's value, a histogram's count), and
// whether there is one.
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// sum adds the values of every series of family name matching want.
func sum(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (total float64, n int) {
	mf := mfs[name]
	if mf == nil {
		return 0, 0
	}
	for _, m := range mf.GetMetric() {
		ok := true
		for _, l := range m.GetLabel() {
			if v, in := want[l.GetName()]; in && v != l.GetValue() {
				ok = false
			}
		}
		if ok {
			total += m.GetCounter().GetValue()
			n++
		}
	}
	return total, n
}

func expect(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := series(mfs, name, labels)
	if !ok {
		t.Errorf("%s%v: no series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func createStream(t *testing.T, c *kinesis.Client, name string, shards int32) {
	t.Helper()
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
}

func readShard(t *testing.T, c *kinesis.Client, stream, shard string) []types.Record {
	t.Helper()
	it, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	return out.Records
}

// TestMetricsKinesis puts, gets and subscribes through aws-sdk-go-v2 and
// reads the counts back from /metrics.
func TestMetricsKinesis(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.Kinesis()
	ctx := t.Context()
	createStream(t, c, "s", 2)
	url := srv.URL + "/metrics"
	s := map[string]string{"stream": "s", "account": "000000000000", "region": "us-east-1"}

	bytes := 0
	for i, key := range []string{"a", "bb", "ccc"} {
		data := strings.Repeat("x", 10+i)
		if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(key), Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		bytes += len(data) + len(key)
	}
	var entries []types.PutRecordsRequestEntry
	putsBytes := 0
	for i := 0; i < 5; i++ {
		key, data := "key-"+string(rune('a'+i)), strings.Repeat("y", 20*i+1)
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: []byte(data)})
		putsBytes += len(key) + len(data)
	}
	if out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries}); err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v", err)
	}
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("missing"), PartitionKey: aws.String("k"), Data: []byte("d")}); err == nil {
		t.Fatal("PutRecord to a missing stream succeeded")
	}
	perShard := map[string]int{}
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		perShard[shard] = len(readShard(t, c, "s", shard))
	}
	if perShard["shardId-000000000000"]+perShard["shardId-000000000001"] != 8 {
		t.Fatalf("read %v, want 8 records in all", perShard)
	}

	m := scrape(t, url)
	expect(t, m, "millrace_kinesis_incoming_records_total", s, 8)
	expect(t, m, "millrace_kinesis_incoming_bytes_total", s, float64(bytes+putsBytes))
	expect(t, m, "millrace_kinesis_incoming_puts_total", s, 4)
	expect(t, m, "millrace_kinesis_put_record_requests_total", s, 3)
	expect(t, m, "millrace_kinesis_put_record_success_total", s, 3)
	expect(t, m, "millrace_kinesis_put_record_bytes_total", s, float64(bytes))
	expect(t, m, "millrace_kinesis_put_record_latency_seconds", s, 3)
	expect(t, m, "millrace_kinesis_put_records_requests_total", s, 1)
	expect(t, m, "millrace_kinesis_put_records_success_total", s, 1)
	expect(t, m, "millrace_kinesis_put_records_bytes_total", s, float64(putsBytes))
	expect(t, m, "millrace_kinesis_put_records_total_records_total", s, 5)
	expect(t, m, "millrace_kinesis_put_records_successful_records_total", s, 5)
	expect(t, m, "millrace_kinesis_put_records_throttled_records_total", s, 0)
	expect(t, m, "millrace_kinesis_put_records_failed_records_total", s, 0)
	expect(t, m, "millrace_kinesis_put_records_latency_seconds", s, 1)
	expect(t, m, "millrace_kinesis_get_records_requests_total", s, 2)
	expect(t, m, "millrace_kinesis_get_records_success_total", s, 2)
	expect(t, m, "millrace_kinesis_get_records_records_total", s, 8)
	expect(t, m, "millrace_kinesis_get_records_bytes_total", s, float64(bytes+putsBytes))
	expect(t, m, "millrace_kinesis_get_records_latency_seconds", s, 2)
	expect(t, m, "millrace_kinesis_get_records_iterator_age_seconds", s, 2)
	expect(t, m, "millrace_kinesis_write_provisioned_throughput_exceeded_total", s, 0)
	expect(t, m, "millrace_kinesis_read_provisioned_throughput_exceeded_total", s, 0)
	expect(t, m, "millrace_requests_total", map[string]string{"service": "kinesis", "operation": "PutRecord", "code": "OK"}, 3)
	expect(t, m, "millrace_requests_total", map[string]string{"service": "kinesis", "operation": "PutRecord", "code": "ResourceNotFoundException"}, 1)
	expect(t, m, "millrace_request_duration_seconds", map[string]string{"service": "kinesis", "operation": "GetRecords"}, 2)
	for _, name := range []string{"millrace_storage_disk_bytes", "millrace_storage_wal_sync_seconds", "millrace_subscriptions_open", "millrace_get_records_buffers_leased", "millrace_get_records_buffer_overdrafts_total", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := series(m, name, nil); !ok {
			t.Errorf("no %s", name)
		}
	}
	if v, _ := series(m, "millrace_storage_disk_bytes", nil); v <= 0 {
		t.Errorf("millrace_storage_disk_bytes = %v", v)
	}
	if _, n := sum(m, "millrace_kinesis_shard_incoming_records_total", s); n != 0 {
		t.Errorf("%d per-shard series without enhanced monitoring", n)
	}

	// Enhanced monitoring turns on per-shard series, metric by metric.
	if _, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("s"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingRecords}}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, url)
	for shard, n := range perShard {
		expect(t, m, "millrace_kinesis_shard_incoming_records_total", map[string]string{"stream": "s", "shard": shard}, float64(n))
	}
	for _, name := range []string{"millrace_kinesis_shard_incoming_bytes_total", "millrace_kinesis_shard_outgoing_records_total"} {
		if _, ok := series(m, name, s); ok {
			t.Errorf("%s with only IncomingRecords enabled", name)
		}
	}
	if _, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("s"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, url)
	for shard, n := range perShard {
		expect(t, m, "millrace_kinesis_shard_outgoing_records_total", map[string]string{"stream": "s", "shard": shard}, float64(n))
	}
	if total, n := sum(m, "millrace_kinesis_shard_incoming_bytes_total", s); n != 2 || total != float64(bytes+putsBytes) {
		t.Errorf("shard_incoming_bytes_total: %d series, %v in all; want 2 and %d", n, total, bytes+putsBytes)
	}
	if total, n := sum(m, "millrace_kinesis_shard_outgoing_bytes_total", s); n != 2 || total != float64(bytes+putsBytes) {
		t.Errorf("shard_outgoing_bytes_total: %d series, %v in all; want 2 and %d", n, total, bytes+putsBytes)
	}
	for _, name := range []string{"shard_write_provisioned_throughput_exceeded_total", "shard_read_provisioned_throughput_exceeded_total", "shard_iterator_age_seconds"} {
		if _, ok := series(m, "millrace_kinesis_"+name, map[string]string{"stream": "s", "shard": "shardId-000000000001"}); !ok {
			t.Errorf("no %s with ALL enabled", name)
		}
	}
	if _, err := c.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String("s"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, url)
	for name := range m {
		if strings.HasPrefix(name, "millrace_kinesis_shard_") {
			t.Errorf("%s still exposed after DisableEnhancedMonitoring ALL", name)
		}
	}

	// Enhanced fan-out: a subscription, and a second one refused.
	desc, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: desc.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	arn := reg.Consumer.ConsumerARN
	for {
		d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	shard := "shardId-000000000001"
	sub, err := kinesis.New(c.Options()).SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: arn, ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		t.Fatal(err)
	}
	stream := sub.GetStream()
	defer stream.Close()
	got, events := 0, 0
	for got < perShard[shard] {
		select {
		case ev, ok := <-stream.Events():
			if !ok {
				t.Fatalf("event stream ended: %v", stream.Err())
			}
			got += len(ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent).Value.Records)
			events++
		case <-time.After(20 * time.Second):
			t.Fatal("no event for 20 seconds")
		}
	}
	if _, err := kinesis.New(c.Options()).SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: arn, ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}}); err == nil {
		t.Fatal("a second subscription within 5 seconds was accepted")
	}
	m = scrape(t, url)
	app := map[string]string{"stream": "s", "consumer": "app"}
	expect(t, m, "millrace_kinesis_subscribe_to_shard_success_total", app, 1)
	expect(t, m, "millrace_kinesis_subscribe_to_shard_rate_exceeded_total", app, 1)
	expect(t, m, "millrace_kinesis_subscribe_to_shard_event_records_total", app, float64(perShard[shard]))
	expect(t, m, "millrace_subscriptions_open", nil, 1)
	if v, _ := series(m, "millrace_kinesis_subscribe_to_shard_event_success_total", app); v < float64(events) {
		t.Errorf("subscribe_to_shard_event_success_total = %v, want at least the %d events received", v, events)
	}
	stream.Close()

	// A deleted stream's series go with it.
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, url)
	for name, mf := range m {
		for _, x := range mf.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetName() == "stream" && l.GetValue() == "s" {
					t.Errorf("%s still has a series of the deleted stream", name)
				}
			}
		}
	}
}

// TestMetricsThrottling checks the throttling counts against what the
// client was told, call by call.
func TestMetricsThrottling(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) {
		c.ThroughputLimits = "on"
		c.ShardWriteRecordsPerSec = 3
		c.ShardReadCallsPerSec = 1
	})
	c := srv.Kinesis()
	ctx := t.Context()
	createStream(t, c, "t", 1)
	if _, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("t"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll}}); err != nil {
		t.Fatal(err)
	}
	var entries []types.PutRecordsRequestEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("data")})
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("t"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	batchThrottled := 0
	for _, r := range out.Records {
		if aws.ToString(r.ErrorCode) == "ProvisionedThroughputExceededException" {
			batchThrottled++
		}
	}
	if batchThrottled == 0 {
		t.Fatal("no record of 10 throttled at 3 records per second")
	}
	single, singleOK := 0, 0
	for i := 0; i < 50 && single == 0; i++ {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("t"), PartitionKey: aws.String("k"), Data: []byte("data")})
		var pe *types.ProvisionedThroughputExceededException
		switch {
		case err == nil:
			singleOK++
		case errors.As(err, &pe):
			single++
		default:
			t.Fatal(err)
		}
	}
	reads := 0
	for i := 0; i < 50 && reads == 0; i++ {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("t"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		var pe *types.ProvisionedThroughputExceededException
		if errors.As(err, &pe) {
			reads++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if single == 0 || reads == 0 {
		t.Fatalf("no throttling seen: %d PutRecord, %d GetRecords", single, reads)
	}
	m := scrape(t, srv.URL+"/metrics")
	st := map[string]string{"stream": "t"}
	sh := map[string]string{"stream": "t", "shard": "shardId-000000000000"}
	expect(t, m, "millrace_kinesis_put_records_throttled_records_total", st, float64(batchThrottled))
	expect(t, m, "millrace_kinesis_put_records_successful_records_total", st, float64(10-batchThrottled))
	expect(t, m, "millrace_kinesis_write_provisioned_throughput_exceeded_total", st, float64(batchThrottled+single))
	expect(t, m, "millrace_kinesis_shard_write_provisioned_throughput_exceeded_total", sh, float64(batchThrottled+single))
	expect(t, m, "millrace_kinesis_put_record_success_total", st, float64(singleOK))
	expect(t, m, "millrace_kinesis_incoming_records_total", st, float64(10-batchThrottled+singleOK))
	expect(t, m, "millrace_kinesis_read_provisioned_throughput_exceeded_total", st, float64(reads))
	expect(t, m, "millrace_kinesis_shard_read_provisioned_throughput_exceeded_total", sh, float64(reads))
	expect(t, m, "millrace_requests_total", map[string]string{"operation": "GetRecords", "code": "ProvisionedThroughputExceededException"}, float64(reads))
	expect(t, m, "millrace_requests_total", map[string]string{"operation": "PutRecord", "code": "ProvisionedThroughputExceededException"}, float64(single))
}

// TestMetricsSettings: off serves no metrics; metrics-listen moves them to
// a listener of their own.
func TestMetricsSettings(t *testing.T) {
	off := servertest.Start(t, func(c *config.Config) { c.Metrics = "off" })
	if body := getNotOK(t, off.URL+"/metrics"); strings.Contains(body, "millrace_") {
		t.Errorf("metrics off: /metrics served %q", body)
	}
	own := servertest.Start(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
	if body := getNotOK(t, own.URL+"/metrics"); strings.Contains(body, "millrace_") {
		t.Error("metrics-listen set: the API listener still serves /metrics")
	}
	url := own.Server().MetricsURL()
	if url == "" {
		t.Fatal("no MetricsURL with metrics-listen set")
	}
	if _, ok := series(scrape(t, url), "millrace_subscriptions_open", nil); !ok {
		t.Error("the metrics listener serves no millrace_subscriptions_open")
	}
	resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to the metrics listener: %s, want 404", resp.Status)
	}
}

func getNotOK(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET %s: 200", url)
	}
	return string(b)
}

// TestMetricsAllowList: /metrics needs no signature, but the listener's
// allow-list applies to it as to every request.
func TestMetricsAllowList(t *testing.T) {
	for _, metricsListen := range []string{"", "127.0.0.1:0"} {
		srv := servertest.Start(t, func(c *config.Config) { c.AllowCIDRs, c.MetricsListen = "10.0.0.0/8", metricsListen })
		url := srv.URL + "/metrics"
		if metricsListen != "" {
			url = srv.Server().MetricsURL()
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("metrics-listen %q: GET %s from 127.0.0.1 outside allow-cidrs: %s, want 403", metricsListen, url, resp.Status)
		}
	}
}
