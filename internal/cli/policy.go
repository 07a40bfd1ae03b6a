package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/iam"
)

const policyHelp = `Usage:
  millrace policy check --config FILE --user USER --action ACTION --resource ARN [flags]

Evaluates one request against the identity policies of the config file
(and a resource policy, if given) the way the server does, and explains
the decision: which statements matched, and the AccessDeniedException
message a denied request gets. Exits 0 when allowed, 1 when denied.

Flags:
  --config FILE            config file declaring accounts, users and groups
  --user USER              user name (default account), ACCOUNT/NAME, a user
                           ARN, an account id for the account's root, or a
                           role ARN (evaluated as a session of the role)
  --action ACTION          e.g. kinesis:PutRecord
  --resource ARN           e.g. arn:aws:kinesis:us-east-1:123456789012:stream/s
                           ("*" for ListStreams and other account-level actions)
  --resource-policy FILE   resource policy attached to the resource (JSON)
  --resource-tag KEY=VALUE resource tag (aws:ResourceTag/KEY); repeatable
  --source-ip IP           client address (aws:SourceIp), default 127.0.0.1
  --secure-transport       the request comes over TLS (aws:SecureTransport)
  --context KEY=VALUE      any other condition key; repeatable
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// policyCmd runs "millrace policy ...".
func policyCmd(args []string, stdout io.Writer, lookupEnv func(string) (string, bool)) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, policyHelp)
		return nil
	}
	if args[0] != "check" {
		return usageError{fmt.Errorf("unknown policy command %q (known: check)", args[0])}
	}
	fs := flag.NewFlagSet("millrace policy check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, user, action, resource, rpPath, sourceIP string
	var secure bool
	var tags, extra multiFlag
	fs.StringVar(&cfgPath, "config", "", "")
	fs.StringVar(&user, "user", "", "")
	fs.StringVar(&action, "action", "", "")
	fs.StringVar(&resource, "resource", "", "")
	fs.StringVar(&rpPath, "resource-policy", "", "")
	fs.StringVar(&sourceIP, "source-ip", "127.0.0.1", "")
	fs.BoolVar(&secure, "secure-transport", false, "")
	fs.Var(&tags, "resource-tag", "")
	fs.Var(&extra, "context", "")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, policyHelp)
			return nil
		}
		return usageError{err}
	}
	if cfgPath == "" {
		if v, ok := lookupEnv(config.ConfigEnv); ok {
			cfgPath = v
		}
	}
	for name, v := range map[string]string{"--config": cfgPath, "--user": user, "--action": action, "--resource": resource} {
		if v == "" {
			return usageError{fmt.Errorf("%s is required", name)}
		}
	}
	cfg := config.Default()
	if err := config.LoadFile(cfgPath, &cfg); err != nil {
		return usageError{err}
	}
	dir, err := iam.NewDirectory(cfg)
	if err != nil {
		return usageError{err}
	}
	id, ok := dir.User(user)
	if !ok {
		if r, isRole := dir.Role(user); isRole {
			id, ok = r.Session("policy-check"), true
		}
	}
	if !ok {
		return usageError{fmt.Errorf("no user, account or role %q in %s", user, cfgPath)}
	}
	areq := awsproto.AuthzRequest{Action: action, Resource: resource, ResourceTags: map[string]string{}, Context: map[string][]string{}}
	for _, kv := range tags {
		k, v, _ := strings.Cut(kv, "=")
		areq.ResourceTags[k] = v
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		areq.Context[k] = append(areq.Context[k], v)
	}
	var rp *iam.Policy
	if rpPath != "" {
		doc, err := os.ReadFile(rpPath)
		if err != nil {
			return usageError{err}
		}
		if rp, err = iam.Parse(string(doc), iam.ResourcePolicy); err != nil {
			return usageError{fmt.Errorf("resource policy %s: %w", rpPath, err)}
		}
	}
	resourceAccount := ""
	if parts := strings.SplitN(resource, ":", 6); len(parts) == 6 {
		resourceAccount = parts[4]
	}
	info := &awsproto.RequestInfo{SourceIP: sourceIP, Secure: secure}
	req := iam.Request{Principal: id.Principal, Action: action, Resource: resource,
		Context: iam.RequestContext(info, areq, time.Now())}
	res := iam.Evaluate(id.Policies, rp, resourceAccount, req)

	fmt.Fprintf(stdout, "principal: %s\n", id.Principal.ARN)
	fmt.Fprintf(stdout, "action:    %s\nresource:  %s\n", action, resource)
	if res.CrossAccount {
		fmt.Fprintf(stdout, "cross-account: the resource belongs to %s; both an identity policy and the resource policy must allow\n", resourceAccount)
	}
	if id.Principal.Type == "Root" {
		fmt.Fprintln(stdout, "the account's root user: identity policies do not restrict it")
	}
	if len(res.Matched) == 0 {
		fmt.Fprintln(stdout, "matched statements: none")
	} else {
		fmt.Fprintln(stdout, "matched statements:")
		for _, m := range res.Matched {
			fmt.Fprintf(stdout, "  %s\n", m)
		}
	}
	fmt.Fprintf(stdout, "decision:  %s\n", res.Decision)
	if res.Decision != iam.Allowed {
		fmt.Fprintf(stdout, "AccessDeniedException: %s\n", iam.DeniedMessage(req, res))
		return errDenied
	}
	return nil
}

// errDenied makes policy check exit 1 without a further message.
var errDenied = errors.New("request denied")
