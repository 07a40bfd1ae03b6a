package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(`
account-id = "123456789012"
[[users]]
name = "x"
access-keys = [{id = "AKIAX", secret = "s"}]
[[users.policies]]
name = "p"
document = '{"Version":"2012-10-17","Statement":[{"Sid":"Put","Effect":"Allow","Action":"kinesis:Put*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}'
[[roles]]
name = "delivery"
assume-role-policy = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}}'
[[roles.policies]]
name = "invoke"
document = '{"Version":"2012-10-17","Statement":{"Sid":"Invoke","Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}}'
`), 0o600)
	rp := filepath.Join(dir, "rp.json")
	os.WriteFile(rp, []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"NoBob","Effect":"Deny","Principal":"*","Action":"kinesis:PutRecords"}]}`), 0o600)
	stream := "arn:aws:kinesis:us-east-1:123456789012:stream/s"
	check := func(wantCode int, wantOut string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"millrace", "policy", "check", "--config", cfg, "--user", "x", "--resource", stream}, args...), &out, &errb, func(string) (string, bool) { return "", false })
		if code != wantCode || !strings.Contains(out.String(), wantOut) {
			t.Errorf("%v: exit %d, out %q, err %q; want exit %d and %q", args, code, out.String(), errb.String(), wantCode, wantOut)
		}
	}
	check(0, "Allow identity policy user/x/p statement Put", "--action", "kinesis:PutRecord", "--source-ip", "10.1.1.1")
	check(1, "User: arn:aws:iam::123456789012:user/x is not authorized to perform: kinesis:PutRecord on resource: "+stream+" because no identity-based policy allows the kinesis:PutRecord action",
		"--action", "kinesis:PutRecord", "--source-ip", "192.168.1.1")
	check(1, "with an explicit deny in a resource-based policy", "--action", "kinesis:PutRecords", "--source-ip", "10.1.1.1", "--resource-policy", rp)
	check(2, "", "--action", "")

	// A role ARN is evaluated as a session of the role.
	role := "arn:aws:iam::123456789012:role/delivery"
	check(0, "Allow identity policy role/delivery/invoke statement Invoke", "--user", role, "--action", "lambda:InvokeFunction")
	check(1, "User: arn:aws:sts::123456789012:assumed-role/delivery/policy-check is not authorized to perform: kinesis:PutRecord",
		"--user", role, "--action", "kinesis:PutRecord")
}
