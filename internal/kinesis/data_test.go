package kinesis

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestDataPlaneRoundTrip(t *testing.T) {
	a := newAPI(t)
	a.ok("CreateStream", `{"StreamName":"d","ShardCount":2}`)
	data := base64.StdEncoding.EncodeToString([]byte("hello"))
	put := a.ok("PutRecord", `{"StreamName":"d","PartitionKey":"pk","Data":"`+data+`","ExplicitHashKey":"0"}`)
	if put["ShardId"] != "shardId-000000000000" || put["EncryptionType"] != "NONE" || len(put["SequenceNumber"].(string)) != 56 {
		t.Fatalf("PutRecord: %v", put)
	}
	puts := a.ok("PutRecords", `{"StreamName":"d","Records":[{"PartitionKey":"a","Data":"`+data+`","ExplicitHashKey":"0"},{"PartitionKey":"b","Data":"`+data+`","ExplicitHashKey":"340282366920938463463374607431768211455"}]}`)
	recs := puts["Records"].([]any)
	if puts["FailedRecordCount"] != float64(0) || len(recs) != 2 || recs[1].(map[string]any)["ShardId"] != "shardId-000000000001" {
		t.Fatalf("PutRecords: %v", puts)
	}
	it := a.ok("GetShardIterator", `{"StreamName":"d","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)["ShardIterator"].(string)
	got := a.ok("GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it))
	rs := got["Records"].([]any)
	if len(rs) != 2 || got["NextShardIterator"] == nil || got["MillisBehindLatest"] != float64(0) {
		t.Fatalf("GetRecords: %v", got)
	}
	r0 := rs[0].(map[string]any)
	if r0["Data"] != data || r0["PartitionKey"] != "pk" || r0["SequenceNumber"] != put["SequenceNumber"] || r0["ApproximateArrivalTimestamp"] == nil {
		t.Errorf("record: %v", r0)
	}
	if _, ok := r0["EncryptionType"]; ok {
		t.Errorf("unencrypted record carries EncryptionType: %v", r0)
	}
	// An empty read still has a Records list and a new iterator.
	empty := a.ok("GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, got["NextShardIterator"]))
	if l, ok := empty["Records"].([]any); !ok || len(l) != 0 || empty["NextShardIterator"] == nil {
		t.Errorf("empty read: %v", empty)
	}

	a.fails("GetRecords", `{"ShardIterator":"bm90IGFuIGl0ZXJhdG9y"}`, http.StatusBadRequest, "InvalidArgumentException", "Invalid ShardIterator.")
	a.fails("GetShardIterator", `{"StreamName":"d","ShardId":"shardId-000000000001","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"`+put["SequenceNumber"].(string)+`"}`,
		http.StatusBadRequest, "InvalidArgumentException", "It encodes shardId-000000000000, while it was used in a call to a shard with shardId-000000000001")
	a.fails("PutRecord", `{"StreamName":"nope","PartitionKey":"pk","Data":"`+data+`"}`, http.StatusBadRequest, "ResourceNotFoundException", "Stream nope under account 123456789012 not found.")

	ls := a.ok("ListShards", `{"StreamName":"d","MaxResults":1}`)
	shards := ls["Shards"].([]any)
	if len(shards) != 1 || ls["NextToken"] == nil || shards[0].(map[string]any)["SequenceNumberRange"] == nil {
		t.Fatalf("ListShards: %v", ls)
	}
	next := a.ok("ListShards", fmt.Sprintf(`{"NextToken":%q}`, ls["NextToken"]))
	if s := next["Shards"].([]any); len(s) != 1 || s[0].(map[string]any)["ShardId"] != "shardId-000000000001" || next["NextToken"] != nil {
		t.Errorf("ListShards page 2: %v", next)
	}
	a.fails("ListShards", fmt.Sprintf(`{"StreamName":"d","NextToken":%q}`, ls["NextToken"]), http.StatusBadRequest, "InvalidArgumentException", "NextToken and StreamName cannot be provided together.")
	a.fails("ListShards", `{}`, http.StatusBadRequest, "InvalidArgumentException", "Either NextToken or StreamName should be provided.")
}

// A GetRecords response of several MiB goes out in pieces through the
// router, with the exact Content-Length, and reads back whole.
func TestGetRecordsLargeResponse(t *testing.T) {
	a := newAPI(t)
	a.ok("CreateStream", `{"StreamName":"big","ShardCount":1}`)
	var want []string
	for call := 0; call < 6; call++ {
		var recs []string
		for i := 0; i < 3; i++ {
			data := make([]byte, 100_000+call*1000+i)
			for j := range data {
				data[j] = byte(j*7 + call + i)
			}
			enc := base64.StdEncoding.EncodeToString(data)
			want = append(want, enc)
			recs = append(recs, fmt.Sprintf(`{"PartitionKey":"k%d","Data":%q}`, i, enc))
		}
		a.ok("PutRecords", `{"StreamName":"big","Records":[`+strings.Join(recs, ",")+`]}`)
	}
	it := a.ok("GetShardIterator", `{"StreamName":"big","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)["ShardIterator"].(string)
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL, strings.NewReader(fmt.Sprintf(`{"ShardIterator":%q}`, it)))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccount+"/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GetRecords: %d %v %.200s", resp.StatusCode, err, body)
	}
	if resp.ContentLength != int64(len(body)) || len(body) < 2<<20 {
		t.Fatalf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	var out struct {
		NextShardIterator string
		Records           []struct{ Data, PartitionKey, SequenceNumber string }
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != len(want) || out.NextShardIterator == "" {
		t.Fatalf("%d records, want %d; iterator %q", len(out.Records), len(want), out.NextShardIterator)
	}
	for i, r := range out.Records {
		if r.Data != want[i] || r.PartitionKey != fmt.Sprintf("k%d", i%3) || r.SequenceNumber == "" {
			t.Fatalf("record %d differs (pk %q)", i, r.PartitionKey)
		}
	}
}
