package iam

import (
	"strings"
	"testing"
)

const (
	acct   = "111122223333"
	other  = "444455556666"
	stream = "arn:aws:kinesis:us-east-1:111122223333:stream/orders"
)

var alice = Principal{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/alice", Account: acct, UserName: "alice", UserID: "AIDAALICE"}
var bob = Principal{Type: "IAMUser", ARN: "arn:aws:iam::444455556666:user/bob", Account: other, UserName: "bob", UserID: "AIDABOB"}

func stmt(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }

func mustParse(t *testing.T, doc string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse(doc, kind)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func TestEvaluateTable(t *testing.T) {
	ctx := map[string][]string{
		"aws:sourceip": {"10.1.2.3"}, "aws:securetransport": {"false"},
		"aws:currenttime": {"2025-06-01T12:00:00Z"}, "aws:epochtime": {"1748779200"},
		"aws:resourcetag/env": {"prod"}, "aws:tagkeys": {"env", "team"},
		"aws:requesttag/team": {"Data"}, "kinesis:shardcount": {"4"},
	}
	allowAll := `{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}`
	cases := []struct {
		name     string
		identity string // statements; "" none
		resource string // resource policy statements; "" none
		who      Principal
		action   string
		res      string
		want     Decision
		reason   string
	}{
		{"allow all", allowAll, "", alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"no policy", "", "", alice, "kinesis:PutRecord", stream, ImplicitDeny, "because no identity-based policy allows the kinesis:PutRecord action"},
		{"action wildcard Get*", `{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}`, "", alice, "kinesis:GetRecords", stream, Allowed, ""},
		{"action wildcard miss", `{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}`, "", alice, "kinesis:PutRecord", stream, ImplicitDeny, "no identity-based"},
		{"action case-insensitive", `{"Effect":"Allow","Action":"KINESIS:putrecord","Resource":"*"}`, "", alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"action ? wildcard", `{"Effect":"Allow","Action":"kinesis:PutRecor?","Resource":"*"}`, "", alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"NotAction", `{"Effect":"Allow","NotAction":"kinesis:Delete*","Resource":"*"}`, "", alice, "kinesis:DeleteStream", stream, ImplicitDeny, ""},
		{"NotAction other", `{"Effect":"Allow","NotAction":"kinesis:Delete*","Resource":"*"}`, "", alice, "kinesis:CreateStream", stream, Allowed, ""},
		{"resource wildcard", `{"Effect":"Allow","Action":"*","Resource":"arn:aws:kinesis:*:111122223333:stream/ord*"}`, "", alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"resource miss", `{"Effect":"Allow","Action":"*","Resource":"arn:aws:kinesis:*:111122223333:stream/x*"}`, "", alice, "kinesis:PutRecord", stream, ImplicitDeny, ""},
		{"NotResource", `{"Effect":"Allow","Action":"*","NotResource":"arn:aws:kinesis:*:*:stream/secret"}`, "", alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"NotResource excluded", `{"Effect":"Allow","Action":"*","NotResource":"arn:aws:kinesis:*:*:stream/orders"}`, "", alice, "kinesis:PutRecord", stream, ImplicitDeny, ""},
		{"consumer resource", `{"Effect":"Allow","Action":"*","Resource":"arn:aws:kinesis:*:*:stream/orders/consumer/*"}`, "", alice, "kinesis:SubscribeToShard", stream + "/consumer/c1:123", Allowed, ""},
		{"policy variable", `{"Effect":"Allow","Action":"*","Resource":"arn:aws:kinesis:*:*:stream/${aws:username}-*"}`, "", alice, "kinesis:PutRecord", "arn:aws:kinesis:us-east-1:111122223333:stream/alice-logs", Allowed, ""},
		{"explicit deny wins", allowAll + `,{"Effect":"Deny","Action":"kinesis:PutRecord","Resource":"*"}`, "", alice, "kinesis:PutRecord", stream, ExplicitDeny, "with an explicit deny in an identity-based policy"},
		{"resource deny wins", allowAll, `{"Effect":"Deny","Principal":"*","Action":"kinesis:PutRecord"}`, alice, "kinesis:PutRecord", stream, ExplicitDeny, "with an explicit deny in a resource-based policy"},
		{"same-account resource allow by ARN", "", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kinesis:PutRecord"}`, alice, "kinesis:PutRecord", stream, Allowed, ""},
		{"same-account resource allow by account needs identity", "", `{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kinesis:PutRecord"}`, alice, "kinesis:PutRecord", stream, ImplicitDeny, "no identity-based"},
		{"cross-account both sides", allowAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kinesis:PutRecord"}`, bob, "kinesis:PutRecord", stream, Allowed, ""},
		{"cross-account no resource policy", allowAll, "", bob, "kinesis:PutRecord", stream, ImplicitDeny, "because no resource-based policy allows the kinesis:PutRecord action"},
		{"cross-account no identity policy", "", `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"kinesis:PutRecord"}`, bob, "kinesis:PutRecord", stream, ImplicitDeny, "no identity-based"},
		{"cross-account other principal", allowAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/carol"},"Action":"kinesis:PutRecord"}`, bob, "kinesis:PutRecord", stream, ImplicitDeny, "no resource-based"},
		{"principal star", allowAll, `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kinesis:*"}`, bob, "kinesis:GetRecords", stream, Allowed, ""},
		{"NotPrincipal deny", allowAll, `{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kinesis:*"}`, alice, "kinesis:GetRecords", stream, Allowed, ""},
		{"root of own account", "", "", Principal{Type: "Root", ARN: "arn:aws:iam::111122223333:root", Account: acct}, "kinesis:DeleteStream", stream, Allowed, ""},
	}
	cond := func(c string) string { return `{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + c + `}` }
	conds := []struct {
		c    string
		want Decision
	}{
		{`{"StringEquals":{"aws:username":"alice"}}`, Allowed},
		{`{"StringEquals":{"aws:username":["bob","carol"]}}`, ImplicitDeny},
		{`{"StringNotEquals":{"aws:username":"bob"}}`, Allowed},
		{`{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}`, Allowed},
		{`{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}`, ImplicitDeny},
		{`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/a*"}}`, Allowed},
		{`{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/a*"}}`, ImplicitDeny},
		{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, Allowed},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, Allowed},
		{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, ImplicitDeny},
		{`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}}`, Allowed},
		{`{"Bool":{"aws:SecureTransport":"true"}}`, ImplicitDeny},
		{`{"Bool":{"aws:SecureTransport":false}}`, Allowed},
		{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, Allowed},
		{`{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","172.16.0.0/12"]}}`, ImplicitDeny},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ImplicitDeny},
		{`{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, Allowed},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ImplicitDeny},
		{`{"DateEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}`, Allowed},
		{`{"DateNotEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}`, ImplicitDeny},
		{`{"DateGreaterThanEquals":{"aws:EpochTime":"1748779200"}}`, Allowed},
		{`{"DateLessThanEquals":{"aws:CurrentTime":"2025-06-01"}}`, ImplicitDeny},
		{`{"NumericLessThan":{"kinesis:ShardCount":5}}`, Allowed},
		{`{"NumericLessThanEquals":{"kinesis:ShardCount":"3"}}`, ImplicitDeny},
		{`{"NumericGreaterThan":{"kinesis:ShardCount":"3.5"}}`, Allowed},
		{`{"NumericGreaterThanEquals":{"kinesis:ShardCount":"5"}}`, ImplicitDeny},
		{`{"NumericEquals":{"kinesis:ShardCount":"4"}}`, Allowed},
		{`{"NumericNotEquals":{"kinesis:ShardCount":"4"}}`, ImplicitDeny},
		{`{"StringEquals":{"aws:ResourceTag/env":"prod"}}`, Allowed},
		{`{"StringEquals":{"aws:ResourceTag/owner":"x"}}`, ImplicitDeny},
		{`{"StringEqualsIfExists":{"aws:ResourceTag/owner":"x"}}`, Allowed},
		{`{"StringNotEquals":{"aws:ResourceTag/owner":"x"}}`, Allowed},
		{`{"Null":{"aws:ResourceTag/owner":"true"}}`, Allowed},
		{`{"Null":{"aws:ResourceTag/env":"true"}}`, ImplicitDeny},
		{`{"Null":{"aws:ResourceTag/env":"false"}}`, Allowed},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}`, Allowed},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}`, ImplicitDeny},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team","owner"]}}`, Allowed},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}`, ImplicitDeny},
		{`{"ForAllValues:StringEquals":{"aws:Missing":["env"]}}`, Allowed},
		{`{"ForAnyValue:StringLike":{"aws:Missing":["*"]}}`, ImplicitDeny},
		{`{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}`, Allowed},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["env"]}}`, ImplicitDeny},
		{`{"StringEquals":{"aws:RequestTag/team":"Data"}}`, Allowed},
		{`{"StringEquals":{"AWS:USERNAME":"alice"}}`, Allowed},
		{`{"StringEquals":{"aws:username":"alice"},"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}}`, ImplicitDeny},
		{`{"StringEquals":{"aws:PrincipalAccount":"111122223333","aws:userid":"AIDAALICE"}}`, Allowed},
		{`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/${aws:username}"}}`, Allowed},
	}
	for _, c := range conds {
		cases = append(cases, struct {
			name     string
			identity string
			resource string
			who      Principal
			action   string
			res      string
			want     Decision
			reason   string
		}{"condition " + c.c, cond(c.c), "", alice, "kinesis:PutRecord", stream, c.want, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ids []NamedPolicy
			if tc.identity != "" {
				ids = []NamedPolicy{{Name: "user/test/p", Policy: mustParse(t, stmt(tc.identity), IdentityPolicy)}}
			}
			var rp *Policy
			if tc.resource != "" {
				rp = mustParse(t, stmt(tc.resource), ResourcePolicy)
			}
			c := map[string][]string{}
			for k, v := range ctx {
				c[k] = v
			}
			req := Request{Principal: tc.who, Action: tc.action, Resource: tc.res, Context: c}
			res := Evaluate(ids, rp, acct, req)
			if res.Decision != tc.want {
				t.Fatalf("decision %v, want %v (matched %v)", res.Decision, tc.want, res.Matched)
			}
			if tc.reason != "" && !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("reason %q, want %q", res.Reason, tc.reason)
			}
		})
	}
}

func TestDeniedMessage(t *testing.T) {
	req := Request{Principal: Principal{Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/x", Account: "123456789012"},
		Action: "kinesis:PutRecord", Resource: "arn:aws:kinesis:us-east-1:123456789012:stream/s"}
	res := Evaluate(nil, nil, "123456789012", req)
	want := "User: arn:aws:iam::123456789012:user/x is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:123456789012:stream/s because no identity-based policy allows the kinesis:PutRecord action"
	if got := DeniedMessage(req, res); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`not json`:                 "not a valid JSON",
		`{"Version":"2012-10-17"}`: "missing the required Statement",
		`{"Statement":"x"}`:        "object or a list",
		`{"Statement":[]}`:         "at least one",
		`{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`:                                     "not a policy language version",
		stmt(`{"Action":"*","Resource":"*"}`):                                                                                     "Missing required field Effect",
		stmt(`{"Effect":"Maybe","Action":"*","Resource":"*"}`):                                                                    "Effect",
		stmt(`{"Effect":"Allow","Resource":"*"}`):                                                                                 "Missing required field Action",
		stmt(`{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}`):                                                  "both Action and NotAction",
		stmt(`{"Effect":"Allow","Action":"PutRecord","Resource":"*"}`):                                                            "service:action",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"stream/x"}`):                                                             "an ARN",
		stmt(`{"Effect":"Allow","Action":"*"}`):                                                                                   "Missing required field Resource",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}`):                                                    "must not have a Principal",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringFoo":{"a":"b"}}}`):                                "unknown operator",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"nope"}}}`):                  "not an IP",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}`):            "not a date",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}`):                        "not a number",
		stmt(`{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"}`): "unique",
		stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}`):                                                          "unknown",
	} {
		_, err := Parse(doc, IdentityPolicy)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", doc, err, want)
		}
	}
	if _, err := Parse(stmt(`{"Effect":"Allow","Action":"*"}`), ResourcePolicy); err == nil || !strings.Contains(err.Error(), "Principal") {
		t.Errorf("resource policy without Principal: %v", err)
	}
	if _, err := Parse(stmt(`{"Effect":"Allow","Principal":{"AWS":"bogus"},"Action":"*"}`), ResourcePolicy); err == nil {
		t.Error("bogus principal accepted")
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(stmt(`{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}`))
	f.Add(stmt(`{"Sid":"x","Effect":"Deny","NotAction":["kinesis:Get*"],"NotResource":"arn:aws:kinesis:*:*:stream/a","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*"]},"Null":{"k":true}}}`))
	f.Add(`{"Statement":{"Effect":"Allow","Principal":{"AWS":["123456789012","*"]},"Action":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]},"NumericLessThan":{"n":1.5}}}}`)
	f.Add(`{}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, doc string) {
		for _, kind := range []Kind{IdentityPolicy, ResourcePolicy} {
			p, err := Parse(doc, kind)
			if err != nil {
				continue
			}
			if len(p.Statements) == 0 {
				t.Fatal("parsed policy without statements")
			}
			// Evaluation of any valid policy must not panic.
			req := Request{Principal: alice, Action: "kinesis:PutRecord", Resource: stream,
				Context: map[string][]string{"aws:sourceip": {"10.0.0.1"}, "aws:tagkeys": {"a", "b"}}}
			if kind == IdentityPolicy {
				Evaluate([]NamedPolicy{{Name: "p", Policy: p}}, nil, acct, req)
			} else {
				Evaluate(nil, p, acct, req)
			}
		}
	})
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*:stream/*", "arn:aws:kinesis:r:1:stream/x", true}, {"**a", "bba", true},
	} {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
