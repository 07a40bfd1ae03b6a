package kinesisapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
)

func TestValidateMessages(t *testing.T) {
	s := awsproto.Ptr[string]
	long := strings.Repeat("a", 129)
	tests := []struct {
		name string
		in   interface{ Validate() error }
		want string // "" means valid
	}{
		{"valid PutRecords", &PutRecordsInput{StreamName: s("x"), Records: []PutRecordsRequestEntry{{Data: []byte{}, PartitionKey: s("a")}}}, ""},
		{"PutRecords without records", &PutRecordsInput{},
			"1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null"},
		{"PutRecords empty name and records", &PutRecordsInput{StreamName: s(""), Records: []PutRecordsRequestEntry{}},
			"3 validation errors detected: " +
				"Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"PutRecords long name", &PutRecordsInput{StreamName: s(long), Records: []PutRecordsRequestEntry{{PartitionKey: s("a"), Data: []byte{}}}},
			"1 validation error detected: Value '" + long + "' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"PutRecords nested members", &PutRecordsInput{StreamName: s("x"), Records: []PutRecordsRequestEntry{
			{PartitionKey: s("a"), Data: []byte("x")},
			{PartitionKey: s(""), ExplicitHashKey: s("01")},
		}},
			"3 validation errors detected: " +
				"Value null at 'records.2.member.data' failed to satisfy constraint: Member must not be null; " +
				"Value '01' at 'records.2.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38}); " +
				"Value '' at 'records.2.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"GetShardIterator missing", &GetShardIteratorInput{},
			"2 validation errors detected: " +
				"Value null at 'shardId' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"},
		{"GetShardIterator empty strings", &GetShardIteratorInput{StreamName: s(""), ShardIteratorType: awsproto.Ptr(ShardIteratorType("")), ShardId: s(""), StartingSequenceNumber: s("")},
			"6 validation errors detected: " +
				"Value '' at 'shardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'shardId' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
				"Value '' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]; " +
				"Value '' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128}); " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; " +
				"Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"RemoveTagsFromStream long key", &RemoveTagsFromStreamInput{StreamName: s("x"), TagKeys: []string{"a", long, "b"}},
			"1 validation error detected: Value '[a, " + long + ", b]' at 'tagKeys' failed to satisfy constraint: " +
				"Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"},
		{"AddTagsToStream long value", &AddTagsToStreamInput{StreamName: s("x"), Tags: map[string]string{"k": strings.Repeat("v", 257)}},
			"1 validation error detected: Value '{k=" + strings.Repeat("v", 257) + "}' at 'tags' failed to satisfy constraint: " +
				"Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]"},
		{"PutRecord data too large", &PutRecordInput{StreamName: s("x"), PartitionKey: s("k"), Data: make([]byte, 10485761)},
			"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 10485760"},
		{"GetRecords limit", &GetRecordsInput{ShardIterator: s("it"), Limit: awsproto.Ptr[int32](10001)},
			"1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		{"GetRecords null iterator", &GetRecordsInput{Limit: awsproto.Ptr[int32](0)},
			"2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
				"Value null at 'shardIterator' failed to satisfy constraint: Member must not be null"},
		{"CreateStream nested mode", &CreateStreamInput{StreamName: s("x"), StreamModeDetails: &StreamModeDetails{StreamMode: awsproto.Ptr(StreamMode("X"))}},
			"1 validation error detected: Value 'X' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"},
		{"string length counts UTF-16 units", &CreateStreamInput{StreamName: s(strings.Repeat("é", 128))},
			"1 validation error detected: Value '" + strings.Repeat("é", 128) + "' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Validate() = %v, want *awsproto.Error", err)
			}
			if ae.Code != "ValidationException" || ae.Status != 400 {
				t.Errorf("code/status = %s/%d", ae.Code, ae.Status)
			}
			if ae.Message != tt.want {
				t.Errorf("message:\n got %s\nwant %s", ae.Message, tt.want)
			}
		})
	}
}

func TestValidateListsAtMostTenErrors(t *testing.T) {
	recs := make([]PutRecordsRequestEntry, 12)
	err := (&PutRecordsInput{StreamName: awsproto.Ptr("x"), Records: recs}).Validate()
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		t.Fatalf("Validate() = %v", err)
	}
	if !strings.HasPrefix(ae.Message, "10 validation errors detected: ") || strings.Count(ae.Message, "; ") != 9 {
		t.Errorf("message = %s", ae.Message)
	}
	if !strings.Contains(ae.Message, "'records.5.member.partitionKey'") || strings.Contains(ae.Message, "records.6.") {
		t.Errorf("unexpected paths in %s", ae.Message)
	}
}

func TestEnumConstantsMatchSDKNames(t *testing.T) {
	if ShardIteratorTypeAtSequenceNumber != "AT_SEQUENCE_NUMBER" || StreamStatusActive != "ACTIVE" ||
		MetricsNameIncomingBytes != "IncomingBytes" || StreamModeOnDemand != "ON_DEMAND" || ShardFilterTypeAfterShardId != "AFTER_SHARD_ID" {
		t.Fatal("enum constants do not carry their model values")
	}
}

func TestOperationsSortedAndComplete(t *testing.T) {
	if len(Operations) != 39 {
		t.Errorf("len(Operations) = %d, want 39 (botocore kinesis 2013-12-02)", len(Operations))
	}
	for i := 1; i < len(Operations); i++ {
		if Operations[i-1].Name >= Operations[i].Name {
			t.Errorf("not sorted at %s", Operations[i].Name)
		}
	}
}
