package iam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Policy versions AWS accepts.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// MaxPolicyBytes is the largest policy document accepted (AWS: 20 KiB for
// resource policies; managed identity policies are smaller still).
const MaxPolicyBytes = 20 * 1024

// Effect is Allow or Deny.
type Effect string

// Effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is a parsed policy document.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Action and
// NotAction is set, and at most one of Resource and NotResource (resource
// policies may leave both out: the statement then covers the resource the
// policy is attached to).
type Statement struct {
	Sid    string
	Effect Effect
	// Principal and NotPrincipal are set only in resource policies.
	Principal, NotPrincipal *Principals
	Action, NotAction       []string
	Resource, NotResource   []string
	Conditions              []Condition
	// Index is the statement's position in the policy, from 0.
	Index int
}

// Principals is the value of a Principal element: "*" (anyone) or AWS
// account ids and ARNs.
type Principals struct {
	Any bool
	AWS []string
	// Service holds service principals ("firehose.amazonaws.com"); they
	// never match a request made with access keys.
	Service []string
}

// ParseError is a malformed policy; its message says what and where.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func parseErr(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...)}
}

// Kind tells Parse which kind of policy a document is: identity policies
// must not name a Principal and must name resources; resource policies must
// name a Principal.
type Kind int

// Policy kinds.
const (
	IdentityPolicy Kind = iota
	ResourcePolicy
)

// Parse parses and validates a policy document.
func Parse(doc string, kind Kind) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, parseErr("Policy size %d bytes exceeds the maximum allowed size of %d bytes.", len(doc), MaxPolicyBytes)
	}
	var top map[string]json.RawMessage
	if err := strictUnmarshal([]byte(doc), &top); err != nil {
		return nil, parseErr("Policy is not a valid JSON object: %v", err)
	}
	p := &Policy{}
	for k, v := range top {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &p.Version); err != nil {
				return nil, parseErr("Version must be a string.")
			}
		case "Id":
			if err := json.Unmarshal(v, &p.ID); err != nil {
				return nil, parseErr("Id must be a string.")
			}
		case "Statement":
		default:
			return nil, parseErr("Policy has an unknown element %q (known: Version, Id, Statement).", k)
		}
	}
	switch p.Version {
	case Version2012, Version2008:
	case "":
		p.Version = Version2008 // AWS's default when Version is left out
	default:
		return nil, parseErr("Version %q is not a policy language version; use %q.", p.Version, Version2012)
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, parseErr("Policy document is missing the required Statement element.")
	}
	var list []json.RawMessage
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '{':
		list = []json.RawMessage{raw}
	case len(t) > 0 && t[0] == '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, parseErr("Statement must be an object or a list of objects.")
		}
	default:
		return nil, parseErr("Statement must be an object or a list of objects.")
	}
	if len(list) == 0 {
		return nil, parseErr("Statement must contain at least one statement.")
	}
	sids := map[string]bool{}
	for i, r := range list {
		st, err := parseStatement(r, i, kind)
		if err != nil {
			return nil, err
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				return nil, parseErr("Statement IDs (SID) in a single policy must be unique: %q appears twice.", st.Sid)
			}
			sids[st.Sid] = true
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

// strictUnmarshal decodes a JSON object, rejecting trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the top-level object")
	}
	if v, ok := v.(*map[string]json.RawMessage); ok && *v == nil {
		return fmt.Errorf("not an object")
	}
	return nil
}

func parseStatement(raw json.RawMessage, i int, kind Kind) (Statement, error) {
	st := Statement{Index: i}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return st, parseErr("Statement %d must be a JSON object.", i)
	}
	where := func() string {
		if st.Sid != "" {
			return fmt.Sprintf("statement %q", st.Sid)
		}
		return fmt.Sprintf("statement %d", i)
	}
	if v, ok := m["Sid"]; ok {
		if err := json.Unmarshal(v, &st.Sid); err != nil {
			return st, parseErr("Sid of statement %d must be a string.", i)
		}
	}
	var err error
	for k, v := range m {
		switch k {
		case "Sid":
		case "Effect":
			var e string
			if json.Unmarshal(v, &e) != nil || (e != string(Allow) && e != string(Deny)) {
				return st, parseErr("Effect of %s must be \"Allow\" or \"Deny\".", where())
			}
			st.Effect = Effect(e)
		case "Action":
			st.Action, err = stringList(v, "Action", where())
		case "NotAction":
			st.NotAction, err = stringList(v, "NotAction", where())
		case "Resource":
			st.Resource, err = stringList(v, "Resource", where())
		case "NotResource":
			st.NotResource, err = stringList(v, "NotResource", where())
		case "Principal":
			st.Principal, err = parsePrincipals(v, "Principal", where())
		case "NotPrincipal":
			st.NotPrincipal, err = parsePrincipals(v, "NotPrincipal", where())
		case "Condition":
			st.Conditions, err = parseConditions(v, where())
		default:
			return st, parseErr("Statement element %q of %s is unknown (known: Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition).", k, where())
		}
		if err != nil {
			return st, err
		}
	}
	switch {
	case st.Effect == "":
		return st, parseErr("Missing required field Effect in %s.", where())
	case st.Action == nil && st.NotAction == nil:
		return st, parseErr("Missing required field Action in %s.", where())
	case st.Action != nil && st.NotAction != nil:
		return st, parseErr("%s has both Action and NotAction; use one.", capitalize(where()))
	case st.Resource != nil && st.NotResource != nil:
		return st, parseErr("%s has both Resource and NotResource; use one.", capitalize(where()))
	case st.Principal != nil && st.NotPrincipal != nil:
		return st, parseErr("%s has both Principal and NotPrincipal; use one.", capitalize(where()))
	}
	for _, a := range append(slices.Clone(st.Action), st.NotAction...) {
		if a != "*" && !strings.Contains(a, ":") {
			return st, parseErr("Action %q in %s must be \"*\" or service:action, e.g. kinesis:PutRecord.", a, where())
		}
	}
	for _, r := range append(slices.Clone(st.Resource), st.NotResource...) {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, parseErr("Resource %q in %s must be \"*\" or an ARN.", r, where())
		}
	}
	switch kind {
	case IdentityPolicy:
		if st.Principal != nil || st.NotPrincipal != nil {
			return st, parseErr("Identity-based policies must not have a Principal element (%s).", where())
		}
		if st.Resource == nil && st.NotResource == nil {
			return st, parseErr("Missing required field Resource in %s.", where())
		}
	case ResourcePolicy:
		if st.Principal == nil && st.NotPrincipal == nil {
			return st, parseErr("Missing required field Principal in %s.", where())
		}
	}
	return st, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// stringList decodes a string or a non-empty list of strings.
func stringList(v json.RawMessage, elem, where string) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		if one == "" {
			return nil, parseErr("%s of %s must not be empty.", elem, where)
		}
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(v, &list) != nil || len(list) == 0 {
		return nil, parseErr("%s of %s must be a string or a non-empty list of strings.", elem, where)
	}
	for _, s := range list {
		if s == "" {
			return nil, parseErr("%s of %s must not contain an empty string.", elem, where)
		}
	}
	return list, nil
}

func parsePrincipals(v json.RawMessage, elem, where string) (*Principals, error) {
	var star string
	if json.Unmarshal(v, &star) == nil {
		if star != "*" {
			return nil, parseErr("%s of %s must be \"*\" or an object such as {\"AWS\": \"123456789012\"}.", elem, where)
		}
		return &Principals{Any: true}, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil || len(m) == 0 {
		return nil, parseErr("%s of %s must be \"*\" or an object such as {\"AWS\": \"123456789012\"}.", elem, where)
	}
	p := &Principals{}
	for k, raw := range m {
		list, err := stringList(raw, elem+"."+k, where)
		if err != nil {
			return nil, err
		}
		switch k {
		case "AWS":
			for _, a := range list {
				switch {
				case a == "*":
					p.Any = true
				case isAccountID(a):
				case strings.HasPrefix(a, "arn:") && len(strings.SplitN(a, ":", 6)) == 6:
				default:
					return nil, parseErr("Invalid principal in policy: \"AWS\":%q (%s); use an account id, an ARN or \"*\".", a, where)
				}
			}
			p.AWS = list
		case "Service", "Federated", "CanonicalUser":
			p.Service = append(p.Service, list...)
		default:
			return nil, parseErr("%s of %s has an unknown principal type %q (known: AWS, Service, Federated, CanonicalUser).", elem, where, k)
		}
	}
	return p, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}
