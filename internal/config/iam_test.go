package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestIAMSectionTOMLAndYAML(t *testing.T) {
	tomlDoc := `
account-id = "111122223333"
[[accounts]]
id = "444455556666"
access-keys = [{id = "ROOTKEY", secret = "rootsecret"}]

[[groups]]
name = "readers"
[[groups.policies]]
name = "read"
document = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}'

[[roles]]
name = "delivery"
path = "/service/"
assume-role-policy = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}}'
[[roles.policies]]
name = "invoke"
document = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}}'

[[users]]
name = "alice"
groups = ["readers"]
access-keys = [{id = "AKIAALICE", secret = "s1", session-token = "tok"}]
[[users.policies]]
name = "write"
[users.policies.document]
Version = "2012-10-17"
[[users.policies.document.Statement]]
Effect = "Allow"
Action = ["kinesis:PutRecord"]
Resource = "*"
`
	yamlDoc := `
account-id: "111122223333"
accounts:
  - id: "444455556666"
    access-keys: [{id: ROOTKEY, secret: rootsecret}]
groups:
  - name: readers
    policies:
      - name: read
        document: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:Get*","Resource":"*"}}'
roles:
  - name: delivery
    path: /service/
    assume-role-policy:
      Version: "2012-10-17"
      Statement:
        Effect: Allow
        Principal: {Service: firehose.amazonaws.com}
        Action: sts:AssumeRole
    policies:
      - name: invoke
        document: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}}'
users:
  - name: alice
    groups: [readers]
    access-keys: [{id: AKIAALICE, secret: s1, session-token: tok}]
    policies:
      - name: write
        document:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [kinesis:PutRecord]
              Resource: "*"
`
	for name, doc := range map[string]string{"c.toml": tomlDoc, "c.yaml": yamlDoc} {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, []string{"--config=" + writeFile(t, name, doc)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.IAM.Declared() || len(cfg.IAM.Users) != 1 || len(cfg.IAM.Groups) != 1 || len(cfg.IAM.Accounts) != 1 {
				t.Fatalf("IAM = %+v", cfg.IAM)
			}
			if len(cfg.IAM.Roles) != 1 || cfg.IAM.Roles[0].Name != "delivery" || cfg.IAM.Roles[0].Path != "/service/" || len(cfg.IAM.Roles[0].Policies) != 1 {
				t.Fatalf("roles = %+v", cfg.IAM.Roles)
			}
			trust, err := cfg.IAM.Roles[0].TrustPolicy()
			if err != nil || !strings.Contains(trust, `"firehose.amazonaws.com"`) {
				t.Fatalf("trust policy %s: %v", trust, err)
			}
			u := cfg.IAM.Users[0]
			if u.Name != "alice" || u.AccessKeys[0].SessionToken != "tok" || u.Groups[0] != "readers" {
				t.Fatalf("user = %+v", u)
			}
			doc, err := u.Policies[0].JSON()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(doc), &m); err != nil || m["Version"] != "2012-10-17" {
				t.Fatalf("policy document %s: %v", doc, err)
			}
			if !cfg.AuthEnabled() {
				t.Error("auth auto with users on disk should be on")
			}
			cfg.InMemory = true
			if cfg.AuthEnabled() {
				t.Error("auth auto in memory should be off")
			}
		})
	}
}

func TestIAMSectionErrors(t *testing.T) {
	for doc, want := range map[string]string{
		"auth = \"on\"\n": "declares no users",
		"[[users]]\nname = \"a\"\naccess-keys = [{id = \"K\", secret = \"s\"}]\n[[users]]\nname = \"b\"\naccess-keys = [{id = \"K\", secret = \"t\"}]\n": "access key id K is declared for both",
		"[[users]]\nname = \"a\"\ngroups = [\"nope\"]\n":                       "does not declare",
		"[[accounts]]\nid = \"12\"\n":                                          "exactly 12 digits",
		"allow-cidrs = \"10.0.0.0/33\"\n":                                      "not a CIDR block",
		"[[roles]]\nname = \"r\"\n":                                            "role r has no assume-role-policy",
		"[[roles]]\nassume-role-policy = \"{}\"\n":                             "a role has no name",
		"[[roles]]\nname = \"r\"\npath = \"x\"\nassume-role-policy = \"{}\"\n": "must begin and end with /",
		"[[roles]]\nname = \"r\"\nassume-role-policy = \"{}\"\n[[roles]]\nname = \"r\"\nassume-role-policy = \"{}\"\n": "declared twice",
	} {
		_, err := load(t, []string{"--config=" + writeFile(t, "c.toml", doc)}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", doc, err, want)
		}
	}
}
