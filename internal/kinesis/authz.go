package kinesis

import (
	"context"
	"reflect"
	"strings"
	"sync"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/iam"
	"github.com/millrace/millrace/internal/streams"
)

// Authorization: every operation is the IAM action kinesis:<Operation> on
// the resource its input names — the consumer (ConsumerARN), the resource
// (ResourceARN), the stream (StreamARN or StreamName in the caller's
// account and region), the stream a shard iterator reads — or "*" for
// account-level operations (ListStreams, DescribeLimits, account
// settings). The stream's resource policy and tags go along, so that
// policies can use them; tags a request sets or removes are
// aws:RequestTag/<key> and aws:TagKeys.

type svcKey struct{}

// withService makes the Service available to handle's authorization step.
func withService(h awsproto.Handler, svc *Service) awsproto.Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		return h(context.WithValue(ctx, svcKey{}, svc), body)
	}
}

// authzFields are the indices of the input members authorization reads;
// -1 when the input has no such member.
type authzFields struct {
	streamName, streamARN, consumerARN, resourceARN, shardIterator, tags, tagKeys, policy int
}

var authzFieldCache sync.Map // reflect.Type -> *authzFields

func fieldsOf(t reflect.Type) *authzFields {
	if f, ok := authzFieldCache.Load(t); ok {
		return f.(*authzFields)
	}
	idx := func(name string) int {
		if sf, ok := t.FieldByName(name); ok && len(sf.Index) == 1 {
			return sf.Index[0]
		}
		return -1
	}
	f := &authzFields{
		streamName: idx("StreamName"), streamARN: idx("StreamARN"), consumerARN: idx("ConsumerARN"),
		resourceARN: idx("ResourceARN"), shardIterator: idx("ShardIterator"), tags: idx("Tags"),
		tagKeys: idx("TagKeys"), policy: idx("Policy"),
	}
	authzFieldCache.Store(t, f)
	return f
}

func stringField(v reflect.Value, i int) string {
	if i < 0 {
		return ""
	}
	if p, ok := v.Field(i).Interface().(*string); ok && p != nil {
		return *p
	}
	return ""
}

// consumerLookup is what the domain offers about consumers, when it does.
type consumerLookup interface {
	GetConsumerPolicy(arn string) (string, error)
}

// authorizeInput names the action and resource of a decoded request and
// has them authorized; it also rejects resource policies that are not
// valid policies, whatever the auth mode.
func authorizeInput(ctx context.Context, in any) error {
	svc, _ := ctx.Value(svcKey{}).(*Service)
	info := awsproto.Info(ctx)
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	f := fieldsOf(v.Type())
	req := awsproto.AuthzRequest{Action: "kinesis:" + info.Operation, Resource: "*"}

	if f.policy >= 0 && info.Operation == "PutResourcePolicy" {
		if _, err := iam.Parse(stringField(v, f.policy), iam.ResourcePolicy); err != nil {
			return awsproto.NewError(codeInvalidArgument, "Invalid policy: %v", err)
		}
	}

	var stream *streams.StreamRef
	switch {
	case stringField(v, f.consumerARN) != "":
		req.Resource = stringField(v, f.consumerARN)
	case stringField(v, f.resourceARN) != "":
		req.Resource = stringField(v, f.resourceARN)
	case stringField(v, f.streamARN) != "" || stringField(v, f.streamName) != "":
		ref := streamRef(ctx, fieldPtr(v, f.streamName), fieldPtr(v, f.streamARN))
		req.Resource = ref.ARN
		if ref.ARN == "" {
			// Looked up by name (no ARN to parse again), authorized on
			// the ARN.
			req.Resource = streams.StreamARN(ref.Region, ref.Account, ref.Name)
			req.ResourceAccount = ref.Account
		}
		stream = &ref
	case stringField(v, f.shardIterator) != "" && svc != nil:
		ref, err := svc.s.IteratorStream(stringField(v, f.shardIterator))
		if err != nil {
			return apiError(err)
		}
		req.Resource, stream = ref.ARN, &ref
	}
	if strings.Contains(req.Resource, ":stream/") && !strings.Contains(req.Resource, "/consumer/") && stream == nil {
		if ref, err := streams.ResourceRef(req.Resource); err == nil {
			stream = &ref
		}
	}
	if req.ResourceAccount == "" {
		req.ResourceAccount = arnAccount(req.Resource)
	}
	if svc != nil && stream != nil {
		if st, err := svc.s.Describe(*stream); err == nil {
			req.ResourcePolicy, req.ResourceTags = st.Policy, st.Tags
		}
	} else if svc != nil && strings.Contains(req.Resource, "/consumer/") {
		if cl, ok := any(svc.s).(consumerLookup); ok {
			if p, err := cl.GetConsumerPolicy(req.Resource); err == nil && p != "{}" {
				req.ResourcePolicy = p
			}
		}
	}
	if f.tags >= 0 {
		if tags, ok := v.Field(f.tags).Interface().(map[string]string); ok && len(tags) > 0 {
			req.RequestTags = tags
		}
	}
	if f.tagKeys >= 0 {
		if keys, ok := v.Field(f.tagKeys).Interface().([]string); ok {
			req.TagKeys = keys
		}
	}
	return awsproto.Authorize(ctx, req)
}

// arnAccount returns the account field of an ARN
// (arn:partition:service:region:account:resource), or "" when s has fewer
// than six fields.
func arnAccount(s string) string {
	for range 4 {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	account, _, ok := strings.Cut(s, ":")
	if !ok {
		return ""
	}
	return account
}

func fieldPtr(v reflect.Value, i int) *string {
	if i < 0 {
		return nil
	}
	p, _ := v.Field(i).Interface().(*string)
	return p
}
