package awsproto

import (
	"net/http"
	"net/url"
	"strings"
)

// SigV4Algorithm is the only signing algorithm AWS JSON services accept.
const SigV4Algorithm = "AWS4-HMAC-SHA256"

// Credential is the credential scope of a SigV4 signature:
// AKID/date/region/service/aws4_request.
type Credential struct {
	AccessKeyID, Date, Region, Service, Terminator string
}

// SigV4 is a parsed, not yet verified, SigV4 signature from an
// Authorization header or a presigned query string.
type SigV4 struct {
	Algorithm     string
	Credential    Credential
	SignedHeaders []string
	Signature     string
	// Date is X-Amz-Date (or Date) as sent.
	Date      string
	Presigned bool
}

// ParseSigV4 extracts the SigV4 signature of a request, with AWS's errors:
// MissingAuthenticationTokenException when there is none,
// InvalidSignatureException when both header and query carry one, and
// IncompleteSignatureException when parts are missing or malformed.
func ParseSigV4(r *http.Request) (*SigV4, *Error) {
	auth := r.Header.Get("Authorization")
	var query url.Values
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	_, presigned := query["X-Amz-Algorithm"]
	switch {
	case auth != "" && presigned:
		return nil, NewError(CodeInvalidSignature, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case auth == "" && !presigned:
		return nil, NewError(CodeMissingAuthentication, "Missing Authentication Token")
	case presigned:
		var msg strings.Builder
		for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
			if query.Get(p) == "" {
				msg.WriteString("AWS query-string parameters must include '" + p + "'. ")
			}
		}
		if msg.Len() > 0 {
			msg.WriteString("Re-examine the query-string parameters.")
			return nil, &Error{Code: CodeIncompleteSignature, Message: msg.String(), Status: http.StatusBadRequest}
		}
		sig := &SigV4{
			Algorithm:     query.Get("X-Amz-Algorithm"),
			SignedHeaders: strings.Split(query.Get("X-Amz-SignedHeaders"), ";"),
			Signature:     query.Get("X-Amz-Signature"),
			Date:          query.Get("X-Amz-Date"),
			Presigned:     true,
		}
		if err := sig.parseCredential(query.Get("X-Amz-Credential")); err != nil {
			return nil, err
		}
		if sig.Algorithm != SigV4Algorithm {
			return nil, NewError(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'", sig.Algorithm)
		}
		return sig, nil
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	return ParseAuthorization(auth, date)
}

// ParseAuthorization parses an Authorization header value
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex"; date is the request's X-Amz-Date or
// Date header.
func ParseAuthorization(auth, date string) (*SigV4, *Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	// The parameters are fields separated by commas and spaces; a later
	// one of the same name wins.
	var credential, signature, signedHeaders string
	for rest != "" {
		i := strings.IndexAny(rest, ", ")
		part := rest
		if i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "Signature":
			signature = v
		case "SignedHeaders":
			signedHeaders = v
		}
	}
	var msg strings.Builder
	for _, p := range [...]struct{ name, value string }{{"Credential", credential}, {"Signature", signature}, {"SignedHeaders", signedHeaders}} {
		if p.value == "" {
			msg.WriteString("Authorization header requires '" + p.name + "' parameter. ")
		}
	}
	if date == "" {
		msg.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if msg.Len() > 0 {
		msg.WriteString("Authorization=" + auth)
		return nil, &Error{Code: CodeIncompleteSignature, Message: msg.String(), Status: http.StatusBadRequest}
	}
	if alg != SigV4Algorithm {
		return nil, NewError(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'", alg)
	}
	sig := &SigV4{
		Algorithm:     alg,
		SignedHeaders: strings.Split(signedHeaders, ";"),
		Signature:     signature,
		Date:          date,
	}
	if err := sig.parseCredential(credential); err != nil {
		return nil, err
	}
	return sig, nil
}

func (s *SigV4) parseCredential(c string) *Error {
	var parts [5]string
	rest := c
	for i := range 4 {
		var ok bool
		if parts[i], rest, ok = strings.Cut(rest, "/"); !ok {
			rest = "/" // too few elements
			break
		}
	}
	parts[4] = rest
	if strings.Contains(rest, "/") || parts[0] == "" {
		return NewError(CodeIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", c)
	}
	s.Credential = Credential{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3], Terminator: parts[4]}
	return nil
}

// AccountFromAccessKey returns the account a request acts for: the access
// key id when it is exactly 12 digits (the convention of AWS emulators),
// else def.
func AccountFromAccessKey(akid, def string) string {
	if len(akid) != 12 {
		return def
	}
	for i := 0; i < len(akid); i++ {
		if akid[i] < '0' || akid[i] > '9' {
			return def
		}
	}
	return akid
}
