package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

func (svc *Service) addTagsToStream(ctx context.Context, in *kinesisapi.AddTagsToStreamInput) (*awsproto.Empty, error) {
	return nil, svc.s.AddTags(ctx, streamRef(ctx, in.StreamName, in.StreamARN), in.Tags)
}

func (svc *Service) removeTagsFromStream(ctx context.Context, in *kinesisapi.RemoveTagsFromStreamInput) (*awsproto.Empty, error) {
	return nil, svc.s.RemoveTags(ctx, streamRef(ctx, in.StreamName, in.StreamARN), in.TagKeys)
}

func (svc *Service) listTagsForStream(ctx context.Context, in *kinesisapi.ListTagsForStreamInput) (*kinesisapi.ListTagsForStreamOutput, error) {
	// Limit is 1..50 by the model; without one, every tag (at most 50).
	page, err := svc.s.ListTags(streamRef(ctx, in.StreamName, in.StreamARN),
		awsproto.Value(in.ExclusiveStartTagKey), int(awsproto.Value(in.Limit)))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.ListTagsForStreamOutput{Tags: tagShapes(page.Tags), HasMoreTags: ptr(page.HasMore)}, nil
}

func tagShapes(tags []streams.Tag) []kinesisapi.Tag {
	out := make([]kinesisapi.Tag, len(tags))
	for i, t := range tags {
		out[i] = kinesisapi.Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out
}

func (svc *Service) tagResource(ctx context.Context, in *kinesisapi.TagResourceInput) (*awsproto.Empty, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	return nil, svc.s.AddTags(ctx, ref, in.Tags)
}

func (svc *Service) untagResource(ctx context.Context, in *kinesisapi.UntagResourceInput) (*awsproto.Empty, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	return nil, svc.s.RemoveTags(ctx, ref, in.TagKeys)
}

func (svc *Service) listTagsForResource(ctx context.Context, in *kinesisapi.ListTagsForResourceInput) (*kinesisapi.ListTagsForResourceOutput, error) {
	ref, err := streams.ResourceRef(awsproto.Value(in.ResourceARN))
	if err != nil {
		return nil, err
	}
	page, err := svc.s.ListTags(ref, "", 0)
	if err != nil {
		return nil, err
	}
	return &kinesisapi.ListTagsForResourceOutput{Tags: tagShapes(page.Tags)}, nil
}
