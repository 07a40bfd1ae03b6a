package server_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/lambda/lambdaapi"
	"github.com/millrace/millrace/internal/server/servertest"
)

const probeARN = "arn:aws:kinesis:us-east-1:000000000000:stream/coverage-probe"

// probes are valid requests for every operation: valid, so that an
// operation's answer tells whether it is implemented rather than how the
// request was malformed. Operations absent here get {"StreamName": ...}.
var probes = map[string]string{
	"AddTagsToStream":               `{"StreamName":"coverage-probe","Tags":{"k":"v"}}`,
	"CreateStream":                  `{"StreamName":"coverage-probe","ShardCount":1}`,
	"DecreaseStreamRetentionPeriod": `{"StreamName":"coverage-probe","RetentionPeriodHours":24}`,
	"IncreaseStreamRetentionPeriod": `{"StreamName":"coverage-probe","RetentionPeriodHours":48}`,
	"DeleteResourcePolicy":          `{"ResourceARN":"` + probeARN + `"}`,
	"GetResourcePolicy":             `{"ResourceARN":"` + probeARN + `"}`,
	"PutResourcePolicy":             `{"ResourceARN":"` + probeARN + `","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"}`,
	"DeregisterStreamConsumer":      `{"StreamARN":"` + probeARN + `","ConsumerName":"c"}`,
	"DescribeStreamConsumer":        `{"StreamARN":"` + probeARN + `","ConsumerName":"c"}`,
	"RegisterStreamConsumer":        `{"StreamARN":"` + probeARN + `","ConsumerName":"c"}`,
	"ListStreamConsumers":           `{"StreamARN":"` + probeARN + `"}`,
	"DescribeAccountSettings":       `{}`,
	"DescribeLimits":                `{}`,
	"ListStreams":                   `{}`,
	"DisableEnhancedMonitoring":     `{"StreamName":"coverage-probe","ShardLevelMetrics":["ALL"]}`,
	"EnableEnhancedMonitoring":      `{"StreamName":"coverage-probe","ShardLevelMetrics":["ALL"]}`,
	"GetRecords":                    `{"ShardIterator":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
	"GetShardIterator":              `{"StreamName":"coverage-probe","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"}`,
	"ListTagsForResource":           `{"ResourceARN":"` + probeARN + `"}`,
	"TagResource":                   `{"ResourceARN":"` + probeARN + `","Tags":{"k":"v"}}`,
	"UntagResource":                 `{"ResourceARN":"` + probeARN + `","TagKeys":["k"]}`,
	"MergeShards":                   `{"StreamName":"coverage-probe","ShardToMerge":"shardId-000000000000","AdjacentShardToMerge":"shardId-000000000001"}`,
	"SplitShard":                    `{"StreamName":"coverage-probe","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"1"}`,
	"PutRecord":                     `{"StreamName":"coverage-probe","Data":"aGk=","PartitionKey":"k"}`,
	"PutRecords":                    `{"StreamName":"coverage-probe","Records":[{"Data":"aGk=","PartitionKey":"k"}]}`,
	"RemoveTagsFromStream":          `{"StreamName":"coverage-probe","TagKeys":["k"]}`,
	"StartStreamEncryption":         `{"StreamName":"coverage-probe","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}`,
	"StopStreamEncryption":          `{"StreamName":"coverage-probe","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}`,
	"SubscribeToShard":              `{"ConsumerARN":"` + probeARN + `/consumer/c:1","ShardId":"shardId-000000000000","StartingPosition":{"Type":"LATEST"}}`,
	"UpdateAccountSettings":         `{"MinimumThroughputBillingCommitment":{"Status":"DISABLED"}}`,
	"UpdateMaxRecordSize":           `{"StreamARN":"` + probeARN + `","MaxRecordSizeInKiB":1024}`,
	"UpdateShardCount":              `{"StreamName":"coverage-probe","TargetShardCount":2,"ScalingType":"UNIFORM_SCALING"}`,
	// PROVISIONED, the mode the probe stream already has: switching it to
	// ON_DEMAND would make the resharding probes invalid.
	"UpdateStreamMode":                       `{"StreamARN":"` + probeARN + `","StreamModeDetails":{"StreamMode":"PROVISIONED"}}`,
	"UpdateStreamWarmThroughput":             `{"StreamName":"coverage-probe","WarmThroughputMiBps":10}`,
	"CreateChannel":                          `{}`,
	"DeleteChannel":                          `{}`,
	"DescribeChannel":                        `{}`,
	"ListChannels":                           `{}`,
	"UpdateChannel":                          `{}`,
	"UpdateStreamRecordDistributionStrategy": `{}`,
}

// docStates reads the operation table of docs/api-coverage.md.
func docStates(t *testing.T) map[string]string {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-coverage.md"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		op, state := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		switch state {
		case "implemented", "not yet", "unknown":
			states[op] = state
		}
	}
	return states
}

// TestAPICoverageDocument checks docs/api-coverage.md against the server:
// every operation of the model is listed, and each one answers as its
// listed state says.
func TestAPICoverageDocument(t *testing.T) {
	noLeaks(t)
	states := docStates(t)
	for _, op := range kinesisapi.Operations {
		if _, ok := states[op.Name]; !ok {
			t.Errorf("docs/api-coverage.md does not list %s", op.Name)
		}
	}
	s := servertest.Start(t)
	client := &http.Client{}
	// In a fixed order: the probes share one stream.
	for _, op := range slices.Sorted(maps.Keys(states)) {
		state := states[op]
		body, ok := probes[op]
		if !ok {
			body = `{"StreamName":"coverage-probe"}`
		}
		req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", kinesisapi.TargetPrefix+"."+op)
		// Well formed, as the server parses but does not yet verify it.
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/kinesis/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(raw, &e)
		code := e.Type
		if i := strings.LastIndex(code, "#"); i >= 0 {
			code = code[i+1:]
		}
		switch {
		case code == "ValidationException" || code == "SerializationException" ||
			strings.Contains(code, "Authentication") || strings.Contains(code, "Signature"):
			t.Errorf("%s: the probe request is invalid (%s); fix it in coverage_test.go", op, raw)
		case state == "implemented" && (code == "NotImplemented" || code == "UnknownOperationException"):
			t.Errorf("%s is listed as implemented but answers %d %s", op, resp.StatusCode, raw)
		case state == "not yet" && code != "NotImplemented":
			t.Errorf("%s is listed as not yet implemented but answers %d %s", op, resp.StatusCode, raw)
		case state == "unknown" && code != "UnknownOperationException":
			t.Errorf("%s is listed as unknown but answers %d %s", op, resp.StatusCode, raw)
		}
	}
}

// TestLambdaCoverageDocument checks the Lambda rows of
// docs/api-coverage.md ("| Lambda | Operation | state | notes |") against
// the server: every operation of the model is listed, and each answers at
// its method and path as its listed state says.
func TestLambdaCoverageDocument(t *testing.T) {
	noLeaks(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-coverage.md"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.TrimSpace(cells[1]) != "Lambda" {
			continue
		}
		states[strings.TrimSpace(cells[2])] = strings.TrimSpace(cells[3])
	}
	if len(lambdaapi.Operations) < 50 {
		t.Fatalf("only %d Lambda operations known", len(lambdaapi.Operations))
	}
	s := servertest.Start(t)
	client := &http.Client{}
	label := regexp.MustCompile(`\{[^}]+\}`)
	for _, op := range lambdaapi.Operations {
		state, ok := states[op.Name]
		if !ok {
			t.Errorf("docs/api-coverage.md does not list Lambda %s", op.Name)
			continue
		}
		// Every path label gets a plausible value; the function probed
		// does not exist, so an implemented operation answers 4xx.
		path := label.ReplaceAllString(op.RequestURI, "coverage-probe")
		path = strings.ReplaceAll(path, "coverage-probe+", "coverage-probe")
		var body io.Reader
		if op.Method == http.MethodPost || op.Method == http.MethodPut {
			body = strings.NewReader(`{}`)
		}
		req, err := http.NewRequest(op.Method, s.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/lambda/aws4_request, "+
			"SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", op.Name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code := resp.Header.Get("X-Amzn-ErrorType")
		switch {
		case state == "implemented" && (resp.StatusCode == http.StatusNotImplemented || code == "" && resp.StatusCode >= 400):
			t.Errorf("%s is listed as implemented but answers %d %s %s", op.Name, resp.StatusCode, code, raw)
		case state == "not yet" && (resp.StatusCode != http.StatusNotImplemented || code != "NotImplemented"):
			t.Errorf("%s is listed as not yet implemented but answers %d %s %s", op.Name, resp.StatusCode, code, raw)
		case state != "implemented" && state != "not yet":
			t.Errorf("%s: unknown state %q", op.Name, state)
		}
	}
}

// TestCloudWatchCoverageDocument checks the CloudWatch table of
// docs/api-coverage.md: every operation of the model is listed, the
// implemented ones are served and the others answer NotImplemented.
func TestCloudWatchCoverageDocument(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-coverage.md"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) >= 5 && strings.TrimSpace(cells[1]) == "CloudWatch" {
			states[strings.TrimSpace(cells[2])] = strings.TrimSpace(cells[3])
		}
	}
	for _, op := range cloudwatchapi.Operations {
		if _, ok := states[op.Name]; !ok {
			t.Errorf("docs/api-coverage.md does not list CloudWatch %s", op.Name)
		}
	}
	s := servertest.Start(t)
	for _, op := range slices.Sorted(maps.Keys(states)) {
		// An empty input: served operations answer with a validation
		// error or a result, never NotImplemented.
		req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{"Namespace":"AWS/Kinesis"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", cloudwatchapi.TargetPrefix+"."+op)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/monitoring/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(raw, &e)
		switch state := states[op]; {
		case state == "implemented" && (e.Type == "NotImplemented" || e.Type == "UnknownOperationException"):
			t.Errorf("CloudWatch %s is listed as implemented but answers %d %s", op, resp.StatusCode, raw)
		case state == "not yet" && (e.Type != "NotImplemented" || resp.StatusCode != http.StatusNotImplemented):
			t.Errorf("CloudWatch %s is listed as not yet implemented but answers %d %s", op, resp.StatusCode, raw)
		case state != "implemented" && state != "not yet":
			t.Errorf("CloudWatch %s has the state %q", op, state)
		}
	}
}

// TestFirehoseCoverageDocument checks the Firehose table of
// docs/api-coverage.md: every operation of the model is listed, and the
// implemented ones are served.
func TestFirehoseCoverageDocument(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "api-coverage.md"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) >= 5 && strings.TrimSpace(cells[1]) == "Firehose" {
			states[strings.TrimSpace(cells[2])] = strings.TrimSpace(cells[3])
		}
	}
	for _, op := range firehoseapi.Operations {
		if _, ok := states[op.Name]; !ok {
			t.Errorf("docs/api-coverage.md does not list Firehose %s", op.Name)
		}
	}
	s := servertest.Start(t)
	for _, op := range slices.Sorted(maps.Keys(states)) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{"DeliveryStreamName":"coverage-probe"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", firehoseapi.TargetPrefix+"."+op)
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/firehose/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="+strings.Repeat("0", 64))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(raw, &e)
		switch state := states[op]; {
		case state == "implemented" && (e.Type == "NotImplemented" || e.Type == "UnknownOperationException" || e.Type == "" && resp.StatusCode != 200):
			t.Errorf("Firehose %s is listed as implemented but answers %d %s", op, resp.StatusCode, raw)
		case state != "implemented" && state != "not yet":
			t.Errorf("Firehose %s has the state %q", op, state)
		}
	}
}
