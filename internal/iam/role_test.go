package iam

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/config"
)

const fnARN = "arn:aws:lambda:us-east-1:111122223333:function:upper"

func roleConfig(trust string, policies ...string) config.Config {
	cfg := config.Default()
	cfg.AccountID = acct
	r := config.Role{Name: "delivery", Path: "/service/", AssumeRolePolicy: trust}
	for i, p := range policies {
		r.Policies = append(r.Policies, config.PolicyConfig{Name: "p" + string(rune('a'+i)), Document: p})
	}
	cfg.IAM = &config.IAM{Roles: []config.Role{r}}
	return cfg
}

const (
	roleARN       = "arn:aws:iam::111122223333:role/service/delivery"
	firehoseTrust = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}}`
	invokePolicy  = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:*:111122223333:function:*"}}`
)

func TestRoleSessionIdentity(t *testing.T) {
	d, err := NewDirectory(roleConfig(firehoseTrust, invokePolicy))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := d.Role(roleARN)
	if !ok {
		t.Fatalf("role %s not found", roleARN)
	}
	if !strings.HasPrefix(r.ID, "AROA") || len(r.ID) != 21 {
		t.Errorf("role id %q", r.ID)
	}
	ctx, err := d.AssumeRole(context.Background(), awsproto.AssumeRoleRequest{RoleARN: roleARN, Service: FirehoseService,
		SessionName: "orders", SourceARN: "arn:aws:firehose:us-east-1:111122223333:deliverystream/orders"})
	if err != nil {
		t.Fatal(err)
	}
	// The context's caller is only visible to the router; check the
	// identity the role's sessions get directly.
	id := r.Session("orders")
	p := id.Principal
	if p.Type != "AssumedRole" || p.ARN != "arn:aws:sts::111122223333:assumed-role/delivery/orders" || p.UserID != r.ID+":orders" || p.RoleARN != roleARN {
		t.Fatalf("session principal %+v", p)
	}
	if ctx == nil {
		t.Fatal("nil context")
	}

	req := Request{Principal: p, Action: "lambda:InvokeFunction", Resource: fnARN}
	if res := Evaluate(id.Policies, nil, acct, req); res.Decision != Allowed {
		t.Fatalf("invoke: %v %s", res.Decision, res.Reason)
	}
	req.Action = "lambda:DeleteFunction"
	res := Evaluate(id.Policies, nil, acct, req)
	want := "User: arn:aws:sts::111122223333:assumed-role/delivery/orders is not authorized to perform: lambda:DeleteFunction on resource: " + fnARN + " because no identity-based policy allows the lambda:DeleteFunction action"
	if res.Decision != ImplicitDeny || DeniedMessage(req, res) != want {
		t.Fatalf("delete: %v\n got %s\nwant %s", res.Decision, DeniedMessage(req, res), want)
	}

	// Resource policies name a role session by its role's ARN; the
	// principal keys describe the role.
	rp := mustParse(t, stmt(`{"Effect":"Allow","Principal":{"AWS":"`+roleARN+`"},"Action":"kinesis:PutRecord",
		"Condition":{"StringEquals":{"aws:PrincipalType":"AssumedRole","aws:PrincipalArn":"`+roleARN+`"}}}`), ResourcePolicy)
	req = Request{Principal: p, Action: "kinesis:PutRecord", Resource: stream}
	if res := Evaluate(nil, rp, acct, req); res.Decision != Allowed {
		t.Fatalf("resource policy naming the role: %v %s", res.Decision, res.Reason)
	}
	other := r.Session("x").Principal
	other.RoleARN = "arn:aws:iam::111122223333:role/other"
	if res := Evaluate(nil, rp, acct, Request{Principal: other, Action: "kinesis:PutRecord", Resource: stream}); res.Decision == Allowed {
		t.Fatal("a resource policy naming one role allowed another")
	}
}

func TestAssumeRoleTrust(t *testing.T) {
	src := "arn:aws:firehose:us-east-1:111122223333:deliverystream/orders"
	for _, c := range []struct {
		name, trust, role, service string
		want                       string // "" allowed, else in the error
	}{
		{"firehose trusted", firehoseTrust, roleARN, FirehoseService, ""},
		{"other service", firehoseTrust, roleARN, LambdaService, "does not allow lambda.amazonaws.com"},
		{"unknown role", firehoseTrust, "arn:aws:iam::111122223333:role/none", FirehoseService, "does not exist"},
		{"source account condition", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","firehose.amazonaws.com"]},"Action":"sts:AssumeRole",
			"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"},"ArnLike":{"aws:SourceArn":"arn:aws:firehose:*:111122223333:deliverystream/*"}}}}`, roleARN, FirehoseService, ""},
		{"source account of another", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole",
			"Condition":{"StringEquals":{"aws:SourceAccount":"444455556666"}}}}`, roleARN, FirehoseService, "does not allow"},
		{"explicit deny", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"},
			{"Effect":"Deny","Principal":"*","Action":"sts:*"}]}`, roleARN, FirehoseService, "explicit deny"},
		{"user principal only", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}`, roleARN, FirehoseService, "does not allow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewDirectory(roleConfig(c.trust, invokePolicy))
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.AssumeRole(context.Background(), awsproto.AssumeRoleRequest{RoleARN: c.role, Service: c.service, SessionName: "s", SourceARN: src})
			var ae *AssumeRoleError
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (!errors.As(err, &ae) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestRoleConfigErrors(t *testing.T) {
	for name, c := range map[string]struct {
		trust  string
		policy string
		want   string
	}{
		"trust not json":         {`nope`, invokePolicy, "role/delivery assume-role-policy: Policy is not a valid JSON"},
		"trust without princ":    {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`, invokePolicy, "Principal"},
		"trust with resource":    {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}`, invokePolicy, "prohibited field Resource"},
		"trust other action":     {`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"lambda:InvokeFunction"}}`, invokePolicy, "not an sts action"},
		"identity policy broken": {firehoseTrust, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction"}}`, `role/delivery policy "pa"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewDirectory(roleConfig(c.trust, c.policy))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}
