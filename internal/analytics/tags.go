package analytics

import (
	"context"
	"sort"
	"strings"

	"github.com/millrace/millrace/internal/analytics/analyticsapi"
	"github.com/millrace/millrace/internal/awsproto"
)

// Tags on applications: TagResource, UntagResource and
// ListTagsForResource, and CreateApplication's Tags. They are held with
// the application in the catalog. Tagging does not change the
// application's version and does not restart it.

// maxTags is how many tags an application may have (user-defined tags,
// as on AWS).
const maxTags = 50

func tooManyTags(name string, n int) error {
	return awsproto.NewError("TooManyTagsException", "Application %s would have %d tags; an application has at most %d.", name, n, maxTags)
}

// checkTagKey refuses the reserved aws: prefix (the lengths are the
// model's, checked when the request is read).
func checkTagKey(key string) error {
	if strings.HasPrefix(strings.ToLower(key), "aws:") {
		return invalid("Tag key %q is reserved: keys starting with aws: are for AWS's use.", key)
	}
	return nil
}

// mergeTags adds tags to an application's (a tag already there takes the
// new value) and checks the count.
func mergeTags(a *appRecord, tags []analyticsapi.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		key := deref(t.Key)
		if err := checkTagKey(key); err != nil {
			return err
		}
		if seen[key] {
			return invalid("Tag key %q is given twice.", key)
		}
		seen[key] = true
	}
	merged := make(map[string]string, len(a.Tags)+len(tags))
	for k, v := range a.Tags {
		merged[k] = v
	}
	for _, t := range tags {
		merged[deref(t.Key)] = deref(t.Value)
	}
	if len(merged) > maxTags {
		return tooManyTags(a.Name, len(merged))
	}
	a.Tags = merged
	return nil
}

// taggedApp loads the application an ARN names, in the caller's account
// and region, and authorizes op on it.
func (s *Service) taggedApp(ctx context.Context, op, arn string) (*appRecord, uint64, error) {
	info := awsproto.Info(ctx)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesisanalytics" || !strings.HasPrefix(parts[5], "application/") {
		return nil, 0, invalid("ResourceARN %q is not an application ARN (arn:aws:kinesisanalytics:REGION:ACCOUNT:application/NAME).", arn)
	}
	name := strings.TrimPrefix(parts[5], "application/")
	if parts[3] != info.Region || parts[4] != info.AccountID {
		return nil, 0, notFound(name)
	}
	a, rev, err := s.load(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	if err := authorize(ctx, op, a.arn()); err != nil {
		return nil, 0, err
	}
	return a, rev, nil
}

func (s *Service) tagResource(ctx context.Context, in *analyticsapi.TagResourceRequest) (*analyticsapi.TagResourceResponse, error) {
	a, rev, err := s.taggedApp(ctx, "TagResource", deref(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	if err := mergeTags(a, in.Tags); err != nil {
		return nil, err
	}
	if err := s.store(ctx, a, rev); err != nil {
		return nil, err
	}
	return &analyticsapi.TagResourceResponse{}, nil
}

func (s *Service) untagResource(ctx context.Context, in *analyticsapi.UntagResourceRequest) (*analyticsapi.UntagResourceResponse, error) {
	a, rev, err := s.taggedApp(ctx, "UntagResource", deref(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		if err := checkTagKey(k); err != nil {
			return nil, err
		}
	}
	for _, k := range in.TagKeys {
		delete(a.Tags, k)
	}
	if err := s.store(ctx, a, rev); err != nil {
		return nil, err
	}
	return &analyticsapi.UntagResourceResponse{}, nil
}

func (s *Service) listTagsForResource(ctx context.Context, in *analyticsapi.ListTagsForResourceRequest) (*analyticsapi.ListTagsForResourceResponse, error) {
	a, _, err := s.taggedApp(ctx, "ListTagsForResource", deref(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(a.Tags))
	for k := range a.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := &analyticsapi.ListTagsForResourceResponse{Tags: []analyticsapi.Tag{}}
	for _, k := range keys {
		out.Tags = append(out.Tags, analyticsapi.Tag{Key: ptr(k), Value: ptr(a.Tags[k])})
	}
	return out, nil
}
