package awsproto_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

// decodeAndValidate runs the router's path for a body: decode, then
// Validate. Any failure must be an *awsproto.Error, never a panic.
func decodeAndValidate(t *testing.T, p awsproto.Protocol, body []byte) {
	for _, in := range []interface{ Validate() error }{&kinesisapi.PutRecordsInput{}, &kinesisapi.GetShardIteratorInput{}} {
		err := awsproto.Decode(p, body, in)
		if err == nil {
			err = in.Validate()
		}
		var ae *awsproto.Error
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("error %v (%T) is not an *awsproto.Error", err, err)
		}
	}
}

func FuzzJSONDecode(f *testing.F) {
	f.Add([]byte(`{"StreamName":"s","Records":[{"Data":"aGVsbG8=","PartitionKey":"k"}]}`))
	f.Add([]byte(`{"ShardId":"shardId-0","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1767323045.678}`))
	f.Add([]byte(`{"Records":[{"Data":"abc"}],"Limit":1e999}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) { decodeAndValidate(t, awsproto.ProtocolJSON, body) })
}

func FuzzCBORDecode(f *testing.F) {
	for _, s := range []string{putRecordsCBOR, getShardIteratorAtTimestampCBOR} {
		b, _ := hexBytes(f, s)
		f.Add(b)
	}
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0xa1, 0x69, 'T', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p', 0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) { decodeAndValidate(t, awsproto.ProtocolCBOR, body) })
}

func FuzzSigV4Parse(f *testing.F) {
	f.Add(testAuth, "20260101T000000Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e", "", "")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Signature=x&X-Amz-SignedHeaders=host&X-Amz-Date=1")
	f.Add("AWS4-HMAC-SHA256 ,,,= =", "x", "X-Amz-Algorithm")
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		req := httptest.NewRequest("POST", "/", nil)
		req.URL.RawQuery = query
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if date != "" {
			req.Header.Set("X-Amz-Date", date)
		}
		sig, err := awsproto.ParseSigV4(req)
		if (sig == nil) == (err == nil) {
			t.Fatalf("sig %v, err %v: exactly one must be set", sig, err)
		}
		if sig != nil && (sig.Algorithm != awsproto.SigV4Algorithm || sig.Credential.AccessKeyID == "") {
			t.Fatalf("accepted %+v", sig)
		}
	})
}
