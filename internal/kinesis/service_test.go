package kinesis

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/storage/pebble"
	"github.com/millrace/millrace/internal/streams"
)

const testAccount = "123456789012"

type api struct {
	t   *testing.T
	srv *httptest.Server
	svc *Service
}

func newAPI(t *testing.T) *api {
	t.Helper()
	eng, err := pebble.Open(pebble.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s, err := streams.New(context.Background(), streams.Options{Log: eng, Catalog: eng})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc := New(s, nil)
	r := awsproto.NewRouter(awsproto.RouterOptions{MaxBodyBytes: 1 << 20, DefaultRegion: "us-east-1", DefaultAccountID: "000000000000"})
	svc.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, svc: svc}
}

// call sends one JSON request signed (in form only) by the test account and
// returns the status and decoded body.
func (a *api) call(op, body string) (int, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL, bytes.NewBufferString(body))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccount+"/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (a *api) ok(op, body string) map[string]any {
	a.t.Helper()
	status, out := a.call(op, body)
	if status != http.StatusOK {
		a.t.Fatalf("%s %s: %d %v", op, body, status, out)
	}
	return out
}

func (a *api) fails(op, body string, status int, code, msg string) {
	a.t.Helper()
	got, out := a.call(op, body)
	if got != status || out["__type"] != code || !strings.Contains(out["message"].(string), msg) {
		a.t.Fatalf("%s %s: %d %v, want %d %s %q", op, body, got, out, status, code, msg)
	}
}

func TestEveryOperationRegistered(t *testing.T) {
	h := (&Service{}).handlers()
	for _, op := range kinesisapi.Operations {
		if h[op.Name] == nil {
			t.Errorf("%s not registered", op.Name)
		}
	}
	if len(h) != len(kinesisapi.Operations) {
		t.Errorf("%d handlers for %d operations", len(h), len(kinesisapi.Operations))
	}
}

func TestLaterOperationsSayNotImplemented(t *testing.T) {
	a := newAPI(t)
	// Every Kinesis operation of the model is served now; the encryption
	// operations, the last ones added, answer for themselves.
	a.fails("StartStreamEncryption", `{"StreamName":"s","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}`,
		http.StatusBadRequest, "ResourceNotFoundException", "Stream s under account 123456789012 not found.")
	// Bad input is still a validation error, as on AWS.
	a.fails("SplitShard", `{"StreamName":"s","NewStartingHashKey":"5"}`, http.StatusBadRequest, "ValidationException", "shardToSplit")
	a.fails("RegisterStreamConsumer", `{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","ConsumerName":"c"}`,
		http.StatusBadRequest, "ResourceNotFoundException", "Stream s under account 123456789012 not found.")
}

func TestStreamControlPlane(t *testing.T) {
	a := newAPI(t)
	a.ok("CreateStream", `{"StreamName":"s","ShardCount":3,"Tags":{"team":"a"}}`)
	a.fails("CreateStream", `{"StreamName":"s","ShardCount":1}`, 400, "ResourceInUseException", "Stream s under account 123456789012 already exists.")

	d := a.ok("DescribeStream", `{"StreamName":"s","Limit":2}`)["StreamDescription"].(map[string]any)
	if d["StreamStatus"] != "ACTIVE" || d["HasMoreShards"] != true || len(d["Shards"].([]any)) != 2 || d["EncryptionType"] != "NONE" ||
		d["StreamARN"] != "arn:aws:kinesis:us-east-1:123456789012:stream/s" || d["RetentionPeriodHours"] != 24.0 {
		t.Fatalf("DescribeStream: %v", d)
	}
	if len(d["EnhancedMonitoring"].([]any)) != 1 {
		t.Fatalf("EnhancedMonitoring %v", d["EnhancedMonitoring"])
	}
	d = a.ok("DescribeStream", `{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","ExclusiveStartShardId":"shardId-000000000001"}`)["StreamDescription"].(map[string]any)
	shards := d["Shards"].([]any)
	if d["HasMoreShards"] != false || len(shards) != 1 || shards[0].(map[string]any)["ShardId"] != "shardId-000000000002" {
		t.Fatalf("second page: %v", d)
	}
	sum := a.ok("DescribeStreamSummary", `{"StreamName":"s"}`)["StreamDescriptionSummary"].(map[string]any)
	if sum["OpenShardCount"] != 3.0 || sum["ConsumerCount"] != 0.0 || sum["MaxRecordSizeInKiB"] != 1024.0 || sum["StreamId"] != nil {
		t.Fatalf("summary %v", sum)
	}

	a.fails("DescribeStream", `{"StreamName":"nope"}`, 400, "ResourceNotFoundException", "Stream nope under account 123456789012 not found.")
	a.fails("DescribeStream", `{"StreamName":"x","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}`, 400, "InvalidArgumentException", "same stream")
	a.fails("DescribeStream", `{}`, 400, "InvalidArgumentException", "Either StreamName or StreamARN")

	l := a.ok("ListStreams", `{"Limit":1}`)
	if l["HasMoreStreams"] != false || len(l["StreamNames"].([]any)) != 1 || len(l["StreamSummaries"].([]any)) != 1 {
		t.Fatalf("ListStreams %v", l)
	}
	lim := a.ok("DescribeLimits", `{}`)
	if lim["OpenShardCount"] != 3.0 || lim["ShardLimit"] != float64(streams.DefaultShardLimit) {
		t.Fatalf("DescribeLimits %v", lim)
	}

	a.ok("DeleteStream", `{"StreamName":"s","EnforceConsumerDeletion":true}`)
	a.fails("DeleteStream", `{"StreamName":"s"}`, 400, "ResourceNotFoundException", "not found")
}

func TestTagsRetentionPolicyMonitoringAccount(t *testing.T) {
	a := newAPI(t)
	arn := "arn:aws:kinesis:us-east-1:123456789012:stream/s"
	a.ok("CreateStream", `{"StreamName":"s","ShardCount":1}`)
	a.ok("AddTagsToStream", `{"StreamName":"s","Tags":{"b":"2","a":"1"}}`)
	a.ok("TagResource", `{"ResourceARN":"`+arn+`","Tags":{"c":"3"}}`)
	tl := a.ok("ListTagsForStream", `{"StreamName":"s","Limit":2}`)
	if tl["HasMoreTags"] != true || len(tl["Tags"].([]any)) != 2 {
		t.Fatalf("ListTagsForStream %v", tl)
	}
	a.ok("UntagResource", `{"ResourceARN":"`+arn+`","TagKeys":["a"]}`)
	a.ok("RemoveTagsFromStream", `{"StreamName":"s","TagKeys":["b"]}`)
	rt := a.ok("ListTagsForResource", `{"ResourceARN":"`+arn+`"}`)
	if tags := rt["Tags"].([]any); len(tags) != 1 || tags[0].(map[string]any)["Key"] != "c" {
		t.Fatalf("ListTagsForResource %v", rt)
	}
	a.fails("ListTagsForResource", `{"ResourceARN":"`+arn+`/consumer/c:1"}`, 400, "ResourceNotFoundException", "Consumer")

	a.ok("IncreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":48}`)
	a.fails("DecreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":12}`, 400, "InvalidArgumentException", "Minimum allowed retention period is 24 hours")

	if p := a.ok("GetResourcePolicy", `{"ResourceARN":"`+arn+`"}`); p["Policy"] != "{}" {
		t.Fatalf("GetResourcePolicy %v", p)
	}
	a.fails("PutResourcePolicy", `{"ResourceARN":"`+arn+`","Policy":"nope"}`, 400, "InvalidArgumentException", "Policy")
	a.fails("DeleteResourcePolicy", `{"ResourceARN":"`+arn+`"}`, 400, "ResourceNotFoundException", "policy")

	m := a.ok("EnableEnhancedMonitoring", `{"StreamName":"s","ShardLevelMetrics":["ALL"]}`)
	if len(m["DesiredShardLevelMetrics"].([]any)) != 7 || m["StreamName"] != "s" {
		t.Fatalf("EnableEnhancedMonitoring %v", m)
	}
	a.ok("UpdateMaxRecordSize", `{"StreamARN":"`+arn+`","MaxRecordSizeInKiB":2048}`)

	acc := a.ok("UpdateAccountSettings", `{"MinimumThroughputBillingCommitment":{"Status":"ENABLED"}}`)
	if acc["MinimumThroughputBillingCommitment"].(map[string]any)["Status"] != "ENABLED" {
		t.Fatalf("UpdateAccountSettings %v", acc)
	}
	acc = a.ok("DescribeAccountSettings", `{}`)
	if c := acc["MinimumThroughputBillingCommitment"].(map[string]any); c["Status"] != "ENABLED" || c["EarliestAllowedEndAt"] == nil {
		t.Fatalf("DescribeAccountSettings %v", acc)
	}
}
