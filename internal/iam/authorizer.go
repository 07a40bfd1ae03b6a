package iam

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
)

// SigningKey implements awsproto.KeyStore.
func (d *Directory) SigningKey(id string) (*awsproto.SigningKey, bool) {
	k, ok := d.keys[id]
	if !ok {
		return nil, false
	}
	return &awsproto.SigningKey{
		SecretAccessKey: k.Secret,
		SessionToken:    k.SessionToken,
		Principal:       k.Identity.awsPrincipal(),
	}, true
}

// Authorizer enforces policies on the requests of authenticated callers.
// It implements awsproto.Authorizer.
type Authorizer struct {
	now func() time.Time

	mu    sync.Mutex
	cache map[string]*Policy // parsed resource policies by text
}

// NewAuthorizer returns an Authorizer; now is its clock (nil: time.Now).
func NewAuthorizer(now func() time.Time) *Authorizer {
	if now == nil {
		now = time.Now
	}
	return &Authorizer{now: now, cache: map[string]*Policy{}}
}

// maxCachedPolicies bounds the parsed-policy cache.
const maxCachedPolicies = 1024

// resourcePolicy parses a resource policy, cached by its text.
func (a *Authorizer) resourcePolicy(doc string) (*Policy, error) {
	if doc == "" || doc == "{}" {
		return nil, nil
	}
	a.mu.Lock()
	p, ok := a.cache[doc]
	a.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := Parse(doc, ResourcePolicy)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedPolicies {
		clear(a.cache)
	}
	a.cache[doc] = p
	a.mu.Unlock()
	return p, nil
}

// Authorize implements awsproto.Authorizer.
func (a *Authorizer) Authorize(ctx context.Context, info *awsproto.RequestInfo, req awsproto.AuthzRequest) error {
	var id *Identity
	if info.Principal != nil {
		id, _ = info.Principal.Identity.(*Identity)
	}
	if id == nil {
		// Authentication is on whenever an Authorizer is installed, so an
		// unknown caller here means a request that skipped it.
		return awsproto.NewError(awsproto.CodeAccessDenied, "Unable to determine the caller of the request.")
	}
	r := Request{
		Principal: id.Principal,
		Action:    req.Action,
		Resource:  req.Resource,
		Context:   RequestContext(info, req, a.now()),
	}
	rp, err := a.resourcePolicy(req.ResourcePolicy)
	if err != nil {
		// A stored policy that no longer parses grants nothing.
		rp = nil
	}
	res := Evaluate(id.Policies, rp, req.ResourceAccount, r)
	if res.Decision == Allowed {
		return nil
	}
	return awsproto.NewError(awsproto.CodeAccessDenied, "%s", DeniedMessage(r, res))
}

// RequestContext builds the condition keys of a request: the global keys
// (aws:SourceIp from the connection's peer, aws:SecureTransport,
// aws:CurrentTime, aws:EpochTime, aws:RequestedRegion, aws:UserAgent), the
// resource's and the request's tags and the service's own keys.
func RequestContext(info *awsproto.RequestInfo, req awsproto.AuthzRequest, now time.Time) map[string][]string {
	ctx := map[string][]string{}
	set := func(k string, v ...string) { ctx[strings.ToLower(k)] = v }
	if info != nil {
		if info.SourceIP != "" {
			set("aws:SourceIp", info.SourceIP)
		}
		set("aws:SecureTransport", strconv.FormatBool(info.Secure))
		if info.Region != "" {
			set("aws:RequestedRegion", info.Region)
		}
		if info.UserAgent != "" {
			set("aws:UserAgent", info.UserAgent)
		}
		if info.HTTP != nil {
			if r := info.HTTP.Header.Get("Referer"); r != "" {
				set("aws:Referer", r)
			}
		}
	}
	set("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	for k, v := range req.ResourceTags {
		set("aws:ResourceTag/"+k, v)
	}
	var keys []string
	for k, v := range req.RequestTags {
		set("aws:RequestTag/"+k, v)
		keys = append(keys, k)
	}
	keys = append(keys, req.TagKeys...)
	if len(keys) > 0 {
		set("aws:TagKeys", keys...)
	}
	for k, v := range req.Context {
		set(k, v...)
	}
	return ctx
}

var _ awsproto.Authorizer = (*Authorizer)(nil)
var _ awsproto.KeyStore = (*Directory)(nil)
