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

func TestParseAuthorizationForms(t *testing.T) {
	for _, c := range []struct {
		auth   string
		cred   Credential
		sig    string
		signed int
		bad    bool
	}{
		{auth: "AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=s1", cred: Credential{"a", "b", "c", "d", "e"}, sig: "s1", signed: 1},
		{auth: "  AWS4-HMAC-SHA256   Credential=a//c/d/ ,, SignedHeaders=host;x , Signature=s1 Signature=s2", cred: Credential{"a", "", "c", "d", ""}, sig: "s2", signed: 2},
		{auth: "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=s", bad: true},
		{auth: "AWS4-HMAC-SHA256 Credential=/b/c/d/e, SignedHeaders=host, Signature=s", bad: true},
		{auth: "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=s", bad: true},
		{auth: "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Signature=s", bad: true},
	} {
		sig, err := ParseAuthorization(c.auth, "20260101T000000Z")
		if c.bad {
			if err == nil || err.Code != CodeIncompleteSignature {
				t.Errorf("%q: %v, want IncompleteSignatureException", c.auth, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.auth, err)
			continue
		}
		if sig.Credential != c.cred || sig.Signature != c.sig || len(sig.SignedHeaders) != c.signed {
			t.Errorf("%q: parsed %+v", c.auth, sig)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '4' || id[18] != '-' || id[23] != '-' {
			t.Fatalf("request id %q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
		if id2 := amzID2(); len(id2) != 96 {
			t.Fatalf("x-amz-id-2 %q is not 96 characters", id2)
		}
	}
}
