package producer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// bodyCapture answers every call with a successful PutRecords of n
// records and keeps the request bodies.
type bodyCapture struct {
	n      int
	bodies [][]byte
}

func (c *bodyCapture) Do(req *http.Request) (*http.Response, error) {
	b := make([]byte, max(req.ContentLength, 0))
	if _, err := io.ReadFull(req.Body, b); err != nil {
		return nil, err
	}
	c.bodies = append(c.bodies, b)
	recs := strings.Repeat(`{"SequenceNumber":"1","ShardId":"shardId-000000000000"},`, c.n)
	resp := fmt.Sprintf(`{"FailedRecordCount":0,"Records":[%s]}`, strings.TrimSuffix(recs, ","))
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(strings.NewReader(resp)), ContentLength: int64(len(resp)), Request: req}, nil
}

// spliceAll is putRecordsBodies for calls of any size.
func spliceAll(o *kinesis.Options) { o.Protocol = putRecordsProtocol{o.Protocol, 0} }

// sdkAndSpliced returns the body the SDK writes for in and the one
// putRecordsBodies writes.
func sdkAndSpliced(t testing.TB, in *kinesis.PutRecordsInput) (sdk, spliced []byte) {
	t.Helper()
	hc := &bodyCapture{n: len(in.Records)}
	c := kinesis.New(kinesis.Options{Region: "us-east-1", HTTPClient: hc, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	ctx := context.Background()
	if _, err := c.PutRecords(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecords(ctx, in, spliceAll); err != nil {
		t.Fatal(err)
	}
	if len(hc.bodies) != 2 {
		t.Fatalf("%d calls made, want 2", len(hc.bodies))
	}
	return hc.bodies[0], hc.bodies[1]
}

// TestPutRecordsBodiesAsTheSDKs: the body putRecordsBodies builds is the
// SDK's, byte for byte, whatever the keys and data hold.
func TestPutRecordsBodiesAsTheSDKs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   kinesis.PutRecordsInput
	}{
		{"one record", kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte("hello\n"), PartitionKey: aws.String("k")}}}},
		{"keys to escape, explicit hash keys, binary data", kinesis.PutRecordsInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte{0, 1, 2, 0xff, '"'}, PartitionKey: aws.String(`"Data":""`)},
			{Data: []byte(`"Data":""`), PartitionKey: aws.String("tab\there \\ \u00e9\u2028 <&>"), ExplicitHashKey: aws.String("340282366920938463463374607431768211455")},
			{Data: []byte("x"), PartitionKey: aws.String("\x01\x1f")},
		}}},
		{"empty data", kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte{}, PartitionKey: aws.String("a")},
			{Data: []byte("c"), PartitionKey: aws.String("c")},
		}}},
		{"no records", kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{}}},
		{"large", kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte(strings.Repeat("0123456789", 50000)), PartitionKey: aws.String("big")},
			{Data: []byte("small"), PartitionKey: aws.String("small")},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sdk, spliced := sdkAndSpliced(t, &tc.in)
			if string(sdk) != string(spliced) {
				t.Errorf("spliced body differs from the SDK's:\n sdk     %.300q\n spliced %.300q", sdk, spliced)
			}
		})
	}
}

func FuzzPutRecordsBodies(f *testing.F) {
	f.Add("k", "", []byte("data"), "x", []byte{})
	f.Add(`"Data":""`, "1", []byte(`"Data":""`), "\\\"", []byte(nil))
	f.Add("\u00e9\x00", "", []byte{0xff}, "\xff", []byte("tail"))
	f.Fuzz(func(t *testing.T, pk1, ehk1 string, d1 []byte, pk2 string, d2 []byte) {
		// The SDK refuses a record without data before serializing it.
		d1, d2 = append([]byte{}, d1...), append([]byte{}, d2...)
		in := kinesis.PutRecordsInput{StreamName: aws.String(pk2), Records: []types.PutRecordsRequestEntry{
			{Data: d1, PartitionKey: aws.String(pk1)},
			{Data: d2, PartitionKey: aws.String(pk2)},
		}}
		if ehk1 != "" {
			in.Records[0].ExplicitHashKey = aws.String(ehk1)
		}
		sdk, spliced := sdkAndSpliced(t, &in)
		if string(sdk) != string(spliced) {
			t.Errorf("spliced body differs from the SDK's:\n sdk     %q\n spliced %q", sdk, spliced)
		}
	})
}

// TestPutRecordsBodiesAllocateOnce: a call of 4 MiB of data allocates
// little more than its body (base64: 4/3 of the data), where the SDK's own
// serializer allocates several times the body.
func TestPutRecordsBodiesAllocateOnce(t *testing.T) {
	in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
	for i := range 4 {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{Data: make([]byte, 1<<20), PartitionKey: aws.String(fmt.Sprint(i))})
	}
	hc := &bodyCapture{n: len(in.Records)}
	c := kinesis.New(kinesis.Options{Region: "us-east-1", HTTPClient: hc, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	alloc := func(opts ...func(*kinesis.Options)) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := c.PutRecords(context.Background(), in, opts...); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		hc.bodies = nil
		return after.TotalAlloc - before.TotalAlloc
	}
	body := uint64(4 << 20 * 4 / 3)
	// The capture's copy of the body is counted too: 2 bodies.
	if got := alloc(putRecordsBodies); got > 3*body {
		t.Errorf("a call with putRecordsBodies allocated %d bytes for a body of %d", got, body)
	}
	if got := alloc(); got < 2*body {
		t.Logf("the SDK's serializer allocated %d bytes for a body of %d: putRecordsBodies may no longer be needed", got, body)
	}
}
