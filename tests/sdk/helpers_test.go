package sdk_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// defaultAccount is the account a request lands in when its access key id
// is not a 12-digit number (servertest's client uses AKIAIOSFODNN7EXAMPLE).
const defaultAccount = "000000000000"

// maxHashKey is 2^128-1, the end of the last shard's hash key range.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// start starts an in-process server for one test and returns it with a
// client pointed at it.
func start(t *testing.T, opts ...func(*config.Config)) (*servertest.Server, *kinesis.Client) {
	t.Helper()
	s := servertest.Start(t, opts...)
	return s, s.Kinesis()
}

func withShardLimit(n int) func(*config.Config) {
	return func(c *config.Config) { c.ShardLimit = n }
}

func withIteratorTTL(d time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.IteratorTTL = d }
}

func withDelays(create, del time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.CreateDelay, c.DeleteDelay = create, del }
}

func streamARN(name string) string {
	return "arn:aws:kinesis:us-east-1:" + defaultAccount + ":stream/" + name
}

// createStream creates a provisioned stream and waits until it is ACTIVE.
func createStream(t *testing.T, c *kinesis.Client, name string, shards int32) {
	t.Helper()
	_, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	})
	if err != nil {
		t.Fatalf("CreateStream(%s, %d): %v", name, shards, err)
	}
	waitActive(t, c, name)
}

// waitActive polls DescribeStreamSummary until the stream is ACTIVE.
func waitActive(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still %s", name, out.StreamDescriptionSummary.StreamStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone polls DescribeStreamSummary until the stream is not found.
func waitGone(t *testing.T, c *kinesis.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return
		}
		if err != nil {
			t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still exists", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantErr fails the test unless err is (wraps) an error of type T, and
// returns it.
func wantErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if err == nil {
		t.Fatalf("got success, want %T", target)
	}
	if !errors.As(err, &target) {
		t.Fatalf("got error %v, want %T", err, target)
	}
	return target
}

// wantCode fails the test unless err is an API error with one of the codes.
func wantCode(t *testing.T, err error, codes ...string) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want error %v", codes)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got non-API error %v, want %v", err, codes)
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return ae
		}
	}
	t.Fatalf("got error code %q (%q), want one of %v", ae.ErrorCode(), ae.ErrorMessage(), codes)
	return nil
}

// wantMessage fails the test unless the API error's message contains each
// of the fragments.
func wantMessage(t *testing.T, err error, fragments ...string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an API error", err)
	}
	for _, f := range fragments {
		if !strings.Contains(ae.ErrorMessage(), f) {
			t.Errorf("message %q does not contain %q", ae.ErrorMessage(), f)
		}
	}
}

// initialRanges returns AWS's initial hash key ranges for n shards: each
// floor(2^128/n) wide, the last ending at 2^128-1.
func initialRanges(n int) [][2]*big.Int {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	width := new(big.Int).Div(space, big.NewInt(int64(n)))
	out := make([][2]*big.Int, n)
	for i := range n {
		lo := new(big.Int).Mul(width, big.NewInt(int64(i)))
		hi := new(big.Int).Sub(new(big.Int).Add(lo, width), big.NewInt(1))
		if i == n-1 {
			hi = new(big.Int).Set(maxHashKey)
		}
		out[i] = [2]*big.Int{lo, hi}
	}
	return out
}

// partitionHash is MD5(partition key) read as an unsigned big-endian
// 128-bit integer, which is how Kinesis maps a key to a shard.
func partitionHash(pk string) *big.Int {
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

func mustBig(t *testing.T, s *string) *big.Int {
	t.Helper()
	if s == nil {
		t.Fatal("nil decimal string")
	}
	v, ok := new(big.Int).SetString(*s, 10)
	if !ok {
		t.Fatalf("%q is not a decimal integer", *s)
	}
	return v
}

// shardFor returns the id of the shard whose hash key range holds h.
func shardFor(t *testing.T, shards []types.Shard, h *big.Int) string {
	t.Helper()
	for _, s := range shards {
		lo := mustBig(t, s.HashKeyRange.StartingHashKey)
		hi := mustBig(t, s.HashKeyRange.EndingHashKey)
		if lo.Cmp(h) <= 0 && h.Cmp(hi) <= 0 {
			return aws.ToString(s.ShardId)
		}
	}
	t.Fatalf("no shard holds hash key %s", h)
	return ""
}

func listShards(t *testing.T, c *kinesis.Client, name string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("ListShards(%s): %v", name, err)
	}
	return out.Shards
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// iterator returns a shard iterator of the given type.
func iterator(t *testing.T, c *kinesis.Client, stream, shard string, typ types.ShardIteratorType, seq *string, ts *time.Time) string {
	t.Helper()
	out, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName:             aws.String(stream),
		ShardId:                aws.String(shard),
		ShardIteratorType:      typ,
		StartingSequenceNumber: seq,
		Timestamp:              ts,
	})
	if err != nil {
		t.Fatalf("GetShardIterator(%s, %s, %s): %v", stream, shard, typ, err)
	}
	if aws.ToString(out.ShardIterator) == "" {
		t.Fatalf("GetShardIterator(%s, %s, %s): empty iterator", stream, shard, typ)
	}
	return aws.ToString(out.ShardIterator)
}

// readFrom follows an iterator until a call returns no records and reports
// being caught up, and returns everything read.
func readFrom(t *testing.T, c *kinesis.Client, it string) []types.Record {
	t.Helper()
	var all []types.Record
	for range 1000 {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		all = append(all, out.Records...)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return all
		}
		if out.NextShardIterator == nil {
			return all
		}
		it = *out.NextShardIterator
	}
	t.Fatal("GetRecords never caught up")
	return nil
}

// readShard reads a whole shard from TRIM_HORIZON.
func readShard(t *testing.T, c *kinesis.Client, stream, shard string) []types.Record {
	t.Helper()
	return readFrom(t, c, iterator(t, c, stream, shard, types.ShardIteratorTypeTrimHorizon, nil, nil))
}

// put writes one record and returns the result.
func put(t *testing.T, c *kinesis.Client, stream, pk string, data []byte) *kinesis.PutRecordOutput {
	t.Helper()
	out, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName:   aws.String(stream),
		PartitionKey: aws.String(pk),
		Data:         data,
	})
	if err != nil {
		t.Fatalf("PutRecord(%s, %s): %v", stream, pk, err)
	}
	return out
}

// seqLess reports whether sequence number a is below b (both decimal).
func seqLess(t *testing.T, a, b *string) bool {
	t.Helper()
	return mustBig(t, a).Cmp(mustBig(t, b)) < 0
}

func sameRecord(t *testing.T, got types.Record, seq, pk string, data []byte) {
	t.Helper()
	if aws.ToString(got.SequenceNumber) != seq || aws.ToString(got.PartitionKey) != pk || !bytes.Equal(got.Data, data) {
		t.Errorf("record = {%s %s %q}, want {%s %s %q}",
			aws.ToString(got.SequenceNumber), aws.ToString(got.PartitionKey), got.Data, seq, pk, data)
	}
}
