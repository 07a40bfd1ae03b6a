package iam

import (
	"fmt"
	"strings"
)

// Principal is the caller of a request, as policies see it.
type Principal struct {
	// Type is "IAMUser", "Root" (an account's root credentials) or
	// "AssumedRole" (a role session).
	Type string
	// ARN is e.g. arn:aws:iam::123456789012:user/alice,
	// arn:aws:iam::123456789012:root or
	// arn:aws:sts::123456789012:assumed-role/name/session.
	ARN string
	// RoleARN is a role session's role (arn:aws:iam::acct:role/name):
	// its aws:PrincipalArn, and what resource policies name it by.
	RoleARN   string
	Account   string
	UserName  string
	UserID    string
	Partition string
}

// NamedPolicy is an identity-based policy with the name it is known by
// (user/alice/inline-name or group/writers/name).
type NamedPolicy struct {
	Name   string
	Policy *Policy
}

// Request is what is being authorized.
type Request struct {
	Principal Principal
	// Action is e.g. kinesis:PutRecord.
	Action string
	// Resource is the ARN acted on ("*" for actions on no resource, such as
	// ListStreams).
	Resource string
	// Context holds the condition keys, by lower-case name.
	Context map[string][]string
}

// Decision is the outcome of an evaluation.
type Decision int

// Decisions.
const (
	ImplicitDeny Decision = iota
	Allowed
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicitly denied"
	default:
		return "implicitly denied"
	}
}

// Match is a statement that applied to the request.
type Match struct {
	// Source is "identity" or "resource".
	Source string
	Policy string
	Sid    string
	Index  int
	Effect Effect
	// AccountOnly is set for a resource-policy Allow that names the
	// caller's account rather than the caller: it delegates to the
	// account's identity policies instead of granting by itself.
	AccountOnly bool
}

func (m Match) String() string {
	sid := m.Sid
	if sid == "" {
		sid = fmt.Sprintf("#%d", m.Index)
	}
	s := fmt.Sprintf("%s %s policy %s statement %s", m.Effect, m.Source, m.Policy, sid)
	if m.AccountOnly {
		s += " (names the account, not the caller)"
	}
	return s
}

// Result is a decision with its reason and the statements that matched.
type Result struct {
	Decision Decision
	// Reason is the end of AWS's AccessDenied message: "with an explicit
	// deny in an identity-based policy", "because no identity-based policy
	// allows the kinesis:PutRecord action", ... Empty when allowed.
	Reason  string
	Matched []Match
	// CrossAccount is set when the resource is in another account.
	CrossAccount bool
}

// Evaluate decides a request: identity holds the caller's identity-based
// policies (ignored for an account's root), resource the policy attached
// to the resource (nil: none) and resourceAccount the account owning the
// resource ("" or the caller's own: same account).
func Evaluate(identity []NamedPolicy, resource *Policy, resourceAccount string, req Request) Result {
	var res Result
	req.Context = withPrincipalKeys(req)
	res.CrossAccount = resourceAccount != "" && resourceAccount != req.Principal.Account
	root := req.Principal.Type == "Root"

	identityAllow, resourceAllow, resourceAccountAllow := root, false, false
	identityDeny, resourceDeny := false, false
	if !root {
		for _, np := range identity {
			for _, st := range np.Policy.Statements {
				if !st.applies(req) {
					continue
				}
				res.Matched = append(res.Matched, Match{Source: "identity", Policy: np.Name, Sid: st.Sid, Index: st.Index, Effect: st.Effect})
				if st.Effect == Deny {
					identityDeny = true
				} else {
					identityAllow = true
				}
			}
		}
	}
	if resource != nil {
		for _, st := range resource.Statements {
			if !st.applies(req) {
				continue
			}
			byName, byAccount := st.principalMatch(req.Principal)
			if !byName && !byAccount {
				continue
			}
			m := Match{Source: "resource", Policy: "resource policy", Sid: st.Sid, Index: st.Index, Effect: st.Effect}
			switch {
			case st.Effect == Deny:
				resourceDeny = true
			case byName:
				resourceAllow = true
			default:
				// Granting to an account lets the account's own identity
				// policies decide.
				m.AccountOnly = true
				resourceAccountAllow = true
			}
			res.Matched = append(res.Matched, m)
		}
	}
	action := req.Action
	switch {
	case identityDeny:
		res.Decision, res.Reason = ExplicitDeny, "with an explicit deny in an identity-based policy"
	case resourceDeny:
		res.Decision, res.Reason = ExplicitDeny, "with an explicit deny in a resource-based policy"
	case !res.CrossAccount && (identityAllow || resourceAllow):
		res.Decision = Allowed
	case res.CrossAccount && identityAllow && (resourceAllow || resourceAccountAllow):
		res.Decision = Allowed
	case res.CrossAccount && identityAllow:
		res.Reason = "because no resource-based policy allows the " + action + " action"
	default:
		res.Reason = "because no identity-based policy allows the " + action + " action"
	}
	return res
}

// withPrincipalKeys adds the global keys that describe the caller.
func withPrincipalKeys(req Request) map[string][]string {
	ctx := make(map[string][]string, len(req.Context)+5)
	for k, v := range req.Context {
		ctx[strings.ToLower(k)] = v
	}
	set := func(k, v string) {
		if v != "" {
			ctx[strings.ToLower(k)] = []string{v}
		}
	}
	p := req.Principal
	if p.Type == "AssumedRole" && p.RoleARN != "" {
		set("aws:PrincipalArn", p.RoleARN)
	} else {
		set("aws:PrincipalArn", p.ARN)
	}
	set("aws:PrincipalAccount", p.Account)
	set("aws:userid", p.UserID)
	if p.Type == "IAMUser" {
		set("aws:username", p.UserName)
	}
	if p.Type != "" {
		set("aws:PrincipalType", map[string]string{"IAMUser": "User", "Root": "Account", "AssumedRole": "AssumedRole"}[p.Type])
	}
	return ctx
}

// applies reports whether the statement's action, resource and conditions
// cover the request (the principal is checked separately).
func (st *Statement) applies(req Request) bool {
	if st.Action != nil && !anyMatch(st.Action, req.Action, actionMatch) {
		return false
	}
	if st.NotAction != nil && anyMatch(st.NotAction, req.Action, actionMatch) {
		return false
	}
	resMatch := func(pattern, arn string) bool {
		return globMatch(expandVars(pattern, req.Context), arn)
	}
	if st.Resource != nil && !anyMatch(st.Resource, req.Resource, resMatch) {
		return false
	}
	if st.NotResource != nil && anyMatch(st.NotResource, req.Resource, resMatch) {
		return false
	}
	for i := range st.Conditions {
		if !st.Conditions[i].eval(req.Context) {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, s string, match func(p, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// principalMatch reports whether a resource-policy statement names the
// caller: byName when it names the caller's ARN (or "*"), byAccount when it
// names the caller's account (id or root ARN).
func (st *Statement) principalMatch(p Principal) (byName, byAccount bool) {
	ps := st.Principal
	negate := false
	if ps == nil {
		ps, negate = st.NotPrincipal, true
	}
	if ps == nil {
		return false, false
	}
	if ps.Any {
		byName = true
	}
	rootARN := "arn:" + partitionOr(p.Partition) + ":iam::" + p.Account + ":root"
	for _, a := range ps.AWS {
		switch {
		case a == p.ARN, p.RoleARN != "" && a == p.RoleARN:
			byName = true
		case a == p.Account || a == rootARN:
			if p.Type == "Root" {
				byName = true
			} else {
				byAccount = true
			}
		}
	}
	if negate {
		// NotPrincipal applies to everyone it does not name.
		return !(byName || byAccount), false
	}
	return byName, byAccount
}

func partitionOr(p string) string {
	if p == "" {
		return "aws"
	}
	return p
}

// DeniedMessage is AWS's AccessDeniedException message for a denied
// request, e.g. "User: arn:aws:iam::123456789012:user/x is not authorized
// to perform: kinesis:PutRecord on resource: arn:... because no
// identity-based policy allows the kinesis:PutRecord action".
func DeniedMessage(req Request, res Result) string {
	return "User: " + req.Principal.ARN + " is not authorized to perform: " + req.Action +
		" on resource: " + req.Resource + " " + res.Reason
}
