package awsproto

import (
	"net/http/httptest"
	"testing"
)

func TestParseSigV4(t *testing.T) {
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=123456789012/20260101/eu-west-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abcd")
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	sig, err := ParseSigV4(req)
	if err != nil {
		t.Fatal(err)
	}
	want := Credential{AccessKeyID: "123456789012", Date: "20260101", Region: "eu-west-1", Service: "kinesis", Terminator: "aws4_request"}
	if sig.Credential != want || sig.Signature != "abcd" || len(sig.SignedHeaders) != 3 || sig.Presigned {
		t.Errorf("parsed %+v", sig)
	}

	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101, SignedHeaders=host, Signature=abcd")
	if _, err := ParseSigV4(req); err == nil || err.Code != CodeIncompleteSignature ||
		err.Message != "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKID/20260101'" {
		t.Errorf("short credential: %v", err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=abcd")
	if _, err := ParseSigV4(req); err == nil || err.Code != CodeIncompleteSignature {
		t.Errorf("other algorithm: %v", err)
	}
}

func TestAccountFromAccessKey(t *testing.T) {
	for akid, want := range map[string]string{
		"123456789012":         "123456789012",
		"AKIAIOSFODNN7EXAMPLE": "000000000000",
		"12345678901":          "000000000000",
		"12345678901a":         "000000000000",
	} {
		if got := AccountFromAccessKey(akid, "000000000000"); got != want {
			t.Errorf("%s: %s, want %s", akid, got, want)
		}
	}
}
