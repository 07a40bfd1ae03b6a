package awsproto

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Error codes of authentication.
const (
	CodeUnrecognizedClient = "UnrecognizedClientException"
)

// MaxClockSkew is how far a request's X-Amz-Date may be from the server's
// clock, either way.
const MaxClockSkew = 15 * time.Minute

// amzDateFormat is SigV4's ISO 8601 basic format.
const amzDateFormat = "20060102T150405Z"

// unsignedPayload is the payload hash of a request whose body is not
// covered by its signature.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// Principal is the caller of a request: who signed it. In dev mode (no
// KeyStore) it describes only the access key and the account derived from
// it, with Type "Unknown".
type Principal struct {
	// Type is as in CloudTrail's userIdentity: IAMUser, Root, AssumedRole
	// or Unknown.
	Type        string
	PrincipalID string
	ARN         string
	AccountID   string
	UserName    string
	AccessKeyID string
	// InvokedBy is the service principal that made the request as a role
	// session in-process (firehose.amazonaws.com); empty for clients.
	InvokedBy string
	// Identity is the store's own description of the caller (policies and
	// all), handed back to the Authorizer.
	Identity any
}

// SigningKey is a declared access key: its secret, the session token that
// must come with it (empty: none) and whom it authenticates.
type SigningKey struct {
	SecretAccessKey string
	SessionToken    string
	Principal       Principal
}

// KeyStore finds declared access keys. A router with a KeyStore verifies
// every signature; without one it accepts any well-formed signature.
type KeyStore interface {
	SigningKey(accessKeyID string) (*SigningKey, bool)
}

// AuthzRequest is what a service asks to authorize for one request: the
// IAM action, the resource ARN ("*" for actions on no resource) and what
// the policies may look at.
type AuthzRequest struct {
	Action   string
	Resource string
	// ResourceAccount owns the resource; "" means the caller's account.
	ResourceAccount string
	// ResourcePolicy is the JSON policy attached to the resource ("" none).
	ResourcePolicy string
	// ResourceTags are the resource's tags (aws:ResourceTag/<key>),
	// RequestTags the tags the request sets (aws:RequestTag/<key>,
	// aws:TagKeys); TagKeys alone lists keys a request removes.
	ResourceTags, RequestTags map[string]string
	TagKeys                   []string
	// Context holds further condition keys (e.g. service-specific ones).
	Context map[string][]string
}

// Authorizer decides AuthzRequests. Its error (an *Error,
// AccessDeniedException) is returned to the client as is.
type Authorizer interface {
	Authorize(ctx context.Context, info *RequestInfo, req AuthzRequest) error
}

// Authorize records the request's action and resource (for the audit log)
// and, when the router enforces policies, checks them. Services call it
// once they know the action and the resource, before acting.
func Authorize(ctx context.Context, req AuthzRequest) error {
	info := Info(ctx)
	if info.Action == "" {
		info.Action = req.Action
	}
	if req.Resource != "" && req.Resource != "*" {
		info.Resources = append(info.Resources, req.Resource)
	}
	if info.authorizer == nil {
		return nil
	}
	return info.authorizer.Authorize(ctx, info, req)
}

// signingName is the SigV4 service name a target prefix's credential scope
// must name: "Kinesis_20131202" signs as kinesis.
func signingName(targetPrefix string) string {
	name, _, _ := strings.Cut(targetPrefix, "_")
	name = strings.ToLower(name)
	switch name {
	case "dynamodbstreams":
		return "dynamodb"
	case "graniteserviceversion20100801":
		// CloudWatch's target prefix; its endpoint prefix is monitoring.
		return "monitoring"
	}
	return name
}

// parseAmzDate reads X-Amz-Date (ISO 8601 basic) or an HTTP Date header.
func parseAmzDate(s string) (time.Time, *Error) {
	if t, err := time.Parse(amzDateFormat, s); err == nil {
		return t, nil
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, NewError(CodeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s)
}

// authenticate verifies a parsed signature against the key store, with
// AWS's errors, and returns the caller.
func (r *Router) authenticate(req *http.Request, body []byte, sig *SigV4, service string) (*Principal, *Error) {
	scope := sig.Credential
	t, aerr := parseAmzDate(sig.Date)
	if aerr != nil {
		return nil, aerr
	}
	if scope.Terminator != "aws4_request" {
		return nil, NewError(CodeInvalidSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", scope.Terminator)
	}
	if scope.Service != service {
		return nil, NewError(CodeInvalidSignature, "Credential should be scoped to correct service: '%s'. ", service)
	}
	if !regionName(scope.Region) {
		return nil, NewError(CodeInvalidSignature, "Credential should be scoped to a valid region. ")
	}
	if day := t.Format("20060102"); scope.Date != day {
		return nil, NewError(CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", scope.Date, day, sig.Date)
	}
	key, ok := r.opts.Keys.SigningKey(scope.AccessKeyID)
	token := req.Header.Get("X-Amz-Security-Token")
	if sig.Presigned {
		token = req.URL.Query().Get("X-Amz-Security-Token")
	}
	if !ok || token != key.SessionToken {
		return nil, NewError(CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}

	now := r.now().UTC()
	if sig.Presigned {
		if exp := req.URL.Query().Get("X-Amz-Expires"); exp != "" {
			secs, err := strconv.Atoi(exp)
			if err != nil || secs < 1 || secs > 604800 {
				return nil, NewError(CodeIncompleteSignature, "X-Amz-Expires must be an integer from 1 to 604800, got '%s'.", exp)
			}
			if end := t.Add(time.Duration(secs) * time.Second); now.After(end) {
				return nil, NewError(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s + %d sec.)",
					now.Format(amzDateFormat), end.Format(amzDateFormat), t.Format(amzDateFormat), secs)
			}
		}
	}
	if earliest := now.Add(-MaxClockSkew); t.Before(earliest) && !sig.Presigned {
		return nil, NewError(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %d min.)",
			t.Format(amzDateFormat), earliest.Format(amzDateFormat), now.Format(amzDateFormat), int(MaxClockSkew/time.Minute))
	}
	if latest := now.Add(MaxClockSkew); t.After(latest) {
		return nil, NewError(CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %d min.)",
			t.Format(amzDateFormat), latest.Format(amzDateFormat), now.Format(amzDateFormat), int(MaxClockSkew/time.Minute))
	}

	sum := sha256.Sum256(body)
	hashes := []string{hex.EncodeToString(sum[:])}
	claimed := req.Header.Get("X-Amz-Content-Sha256")
	switch {
	case claimed == unsignedPayload:
		hashes = []string{unsignedPayload}
	case sig.Presigned:
		hashes = append(hashes, unsignedPayload)
	}
	creds := aws.Credentials{AccessKeyID: scope.AccessKeyID, SecretAccessKey: key.SecretAccessKey, SessionToken: token}
	for _, h := range hashes {
		want, err := expectedSignature(req, sig, creds, h, t)
		if err != nil {
			return nil, NewError(CodeIncompleteSignature, "%v", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig.Signature)) == 1 {
			p := key.Principal
			p.AccessKeyID = scope.AccessKeyID
			return &p, nil
		}
	}
	return nil, NewError(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// expectedSignature signs a copy of the request holding exactly the
// headers the client signed, with aws-sdk-go-v2's SigV4 signer, and
// returns the signature.
func expectedSignature(req *http.Request, sig *SigV4, creds aws.Credentials, payloadHash string, t time.Time) (string, error) {
	q := req.URL.Query()
	q.Del("X-Amz-Signature")
	u := &url.URL{Scheme: "http", Host: req.Host, Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: q.Encode()}
	if u.Path == "" {
		u.Path = "/"
	}
	vreq := &http.Request{Method: req.Method, URL: u, Host: req.Host, Header: http.Header{}}
	signedToken := false
	for _, name := range sig.SignedHeaders {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "", "host":
		case "content-length":
			vreq.ContentLength = req.ContentLength
		default:
			if name == "x-amz-security-token" {
				signedToken = true
			}
			vreq.Header[http.CanonicalHeaderKey(name)] = req.Header.Values(name)
		}
	}
	signer := v4.NewSigner()
	opts := func(o *v4.SignerOptions) {
		o.DisableHeaderHoisting = true
		o.DisableURIPathEscaping = false
		if !sig.Presigned && !signedToken {
			o.DisableSessionToken = true
		}
	}
	if sig.Presigned {
		signed, _, err := signer.PresignHTTP(context.Background(), creds, vreq, payloadHash,
			sig.Credential.Service, sig.Credential.Region, t, opts)
		if err != nil {
			return "", err
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", err
		}
		return su.Query().Get("X-Amz-Signature"), nil
	}
	if err := signer.SignHTTP(context.Background(), creds, vreq, payloadHash,
		sig.Credential.Service, sig.Credential.Region, t, opts); err != nil {
		return "", err
	}
	_, s, ok := strings.Cut(vreq.Header.Get("Authorization"), "Signature=")
	if !ok {
		return "", fmt.Errorf("signer produced no signature")
	}
	return s, nil
}

func regionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (r *Router) now() time.Time {
	if r.opts.Now != nil {
		return r.opts.Now()
	}
	return time.Now()
}
