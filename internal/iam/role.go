package iam

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/millrace/millrace/internal/awsproto"
)

// Role is a declared IAM role: policies without access keys, which the
// service principals its trust policy names may act as.
type Role struct {
	// ARN is arn:aws:iam::<account>:role<path><name>.
	ARN, Name, Account, ID string
	// Trust is the trust policy (who may sts:AssumeRole).
	Trust    *Policy
	Policies []NamedPolicy
}

// Service principals that act as roles on a resource's behalf.
const (
	FirehoseService  = "firehose.amazonaws.com"
	LambdaService    = "lambda.amazonaws.com"
	AnalyticsService = "kinesisanalytics.amazonaws.com"
)

// parseTrustPolicy parses a role's trust policy: a resource-based policy
// whose statements name a Principal, cover sts actions only and name no
// Resource, as IAM requires of an AssumeRolePolicyDocument.
func parseTrustPolicy(doc string) (*Policy, error) {
	p, err := Parse(doc, ResourcePolicy)
	if err != nil {
		return nil, err
	}
	for _, st := range p.Statements {
		where := fmt.Sprintf("statement %d", st.Index)
		if st.Sid != "" {
			where = fmt.Sprintf("statement %q", st.Sid)
		}
		if st.Resource != nil || st.NotResource != nil {
			return nil, parseErr("Has prohibited field Resource: a trust policy's %s must not name a Resource.", where)
		}
		for _, a := range append(append([]string(nil), st.Action...), st.NotAction...) {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "sts:") {
				return nil, parseErr("Action %q in %s of a trust policy is not an sts action (e.g. sts:AssumeRole).", a, where)
			}
		}
	}
	return p, nil
}

// roleID derives a stable unique id in AWS's form (AROA + 17 characters)
// for a role declared without one.
func roleID(account, name string) string {
	sum := sha256.Sum256([]byte("role:" + account + "/" + name))
	return "AROA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// Role finds a declared role by ARN.
func (d *Directory) Role(arn string) (*Role, bool) {
	r, ok := d.roles[arn]
	return r, ok
}

// AssumeRoleError is a refused assumption: no such role, or a trust
// policy that does not let the service assume it.
type AssumeRoleError struct {
	RoleARN, Service string
	Reason           string
}

func (e *AssumeRoleError) Error() string {
	return fmt.Sprintf("%s is not authorized to perform: sts:AssumeRole on resource: %s %s", e.Service, e.RoleARN, e.Reason)
}

// Trusts decides whether the role's trust policy lets the service
// principal assume it: an Allow of sts:AssumeRole naming the service (or
// "*"), and no Deny. ctx holds the condition keys (aws:SourceArn,
// aws:SourceAccount, ...).
func (r *Role) Trusts(service string, ctx map[string][]string) (bool, string) {
	req := Request{Action: "sts:AssumeRole", Resource: r.ARN, Context: lowerKeys(ctx)}
	allowed := false
	for _, st := range r.Trust.Statements {
		if !st.applies(req) || !st.namesService(service) {
			continue
		}
		if st.Effect == Deny {
			return false, "with an explicit deny in the role's trust policy"
		}
		allowed = true
	}
	if !allowed {
		return false, "because the role's trust policy does not allow " + service + " to assume it"
	}
	return true, ""
}

// namesService reports whether a trust-policy statement applies to a
// service principal.
func (st *Statement) namesService(service string) bool {
	ps, negate := st.Principal, false
	if ps == nil {
		ps, negate = st.NotPrincipal, true
	}
	if ps == nil {
		return false
	}
	named := ps.Any
	for _, s := range ps.Service {
		if strings.EqualFold(s, service) {
			named = true
		}
	}
	return named != negate
}

func lowerKeys(ctx map[string][]string) map[string][]string {
	out := make(map[string][]string, len(ctx))
	for k, v := range ctx {
		out[strings.ToLower(k)] = v
	}
	return out
}

// Session is the identity of a role session:
// arn:aws:sts::<account>:assumed-role/<name>/<session>, with the role's
// policies.
func (r *Role) Session(session string) *Identity {
	return &Identity{
		Principal: Principal{Type: "AssumedRole", Account: r.Account, Partition: "aws", RoleARN: r.ARN,
			ARN:    "arn:aws:sts::" + r.Account + ":assumed-role/" + r.Name + "/" + session,
			UserID: r.ID + ":" + session},
		Policies: r.Policies,
	}
}

// AssumeRole implements awsproto.RoleAssumer: it checks that the role
// exists and trusts the service, and returns a context in which requests
// made through the router's in-process transport act as a session of the
// role named after req.SessionName.
func (d *Directory) AssumeRole(ctx context.Context, req awsproto.AssumeRoleRequest) (context.Context, error) {
	r, ok := d.roles[req.RoleARN]
	if !ok {
		return nil, &AssumeRoleError{RoleARN: req.RoleARN, Service: req.Service, Reason: "because the role does not exist"}
	}
	keys := map[string][]string{"aws:PrincipalServiceName": {req.Service}}
	if req.SourceARN != "" {
		keys["aws:SourceArn"] = []string{req.SourceARN}
		if parts := strings.SplitN(req.SourceARN, ":", 6); len(parts) == 6 && parts[4] != "" {
			keys["aws:SourceAccount"] = []string{parts[4]}
		}
	}
	if ok, reason := r.Trusts(req.Service, keys); !ok {
		return nil, &AssumeRoleError{RoleARN: req.RoleARN, Service: req.Service, Reason: reason}
	}
	session := req.SessionName
	if session == "" {
		session = strings.TrimSuffix(req.Service, ".amazonaws.com")
	}
	p := d.session(r, session)
	p.InvokedBy = req.Service
	return awsproto.WithCaller(ctx, &p), nil
}

// session is the awsproto principal of a role session.
func (d *Directory) session(r *Role, session string) awsproto.Principal {
	id := r.Session(session)
	return id.awsPrincipal()
}

// awsPrincipal describes the identity for the router and the audit log.
func (id *Identity) awsPrincipal() awsproto.Principal {
	p := id.Principal
	return awsproto.Principal{
		Type: p.Type, PrincipalID: p.UserID, ARN: p.ARN, AccountID: p.Account,
		UserName: p.UserName, Identity: id,
	}
}

var _ awsproto.RoleAssumer = (*Directory)(nil)
