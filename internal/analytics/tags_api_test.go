package analytics_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kda "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2"
	kdatypes "github.com/aws/aws-sdk-go-v2/service/kinesisanalyticsv2/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// Tags through aws-sdk-go-v2: given at CreateApplication, added, replaced
// and removed, listed in key order, kept across a restart, and refused
// past AWS's limits with AWS's errors.
func TestTagsThroughTheAPI(t *testing.T) {
	srv := servertest.Start(t)
	ac := analyticsClient(srv)
	ctx := context.Background()
	tag := func(k, v string) kdatypes.Tag { return kdatypes.Tag{Key: aws.String(k), Value: aws.String(v)} }
	created, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{
		ApplicationName: aws.String("tagged"), RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role),
		Tags: []kdatypes.Tag{tag("team", "data"), tag("env", "dev")},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := created.ApplicationDetail.ApplicationARN
	list := func() map[string]string {
		t.Helper()
		out, err := ac.ListTagsForResource(ctx, &kda.ListTagsForResourceInput{ResourceARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		var keys []string
		for _, tg := range out.Tags {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			keys = append(keys, aws.ToString(tg.Key))
		}
		for i := 1; i < len(keys); i++ {
			if keys[i-1] >= keys[i] {
				t.Errorf("tags not in key order: %v", keys)
			}
		}
		return m
	}
	if got := list(); !reflect.DeepEqual(got, map[string]string{"team": "data", "env": "dev"}) {
		t.Fatalf("after CreateApplication: %v", got)
	}
	if _, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag("env", "prod"), {Key: aws.String("cost")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.UntagResource(ctx, &kda.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"env": "prod", "cost": ""}
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after TagResource and UntagResource: %v, want %v", got, want)
	}
	d, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToInt64(d.ApplicationDetail.ApplicationVersionId); v != 1 {
		t.Errorf("tagging changed the version to %d", v)
	}
	srv.Restart(t)
	ac = analyticsClient(srv)
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart: %v, want %v", got, want)
	}

	many := func(n int, prefix string) []kdatypes.Tag {
		var ts []kdatypes.Tag
		for i := range n {
			ts = append(ts, tag(fmt.Sprintf("%s%02d", prefix, i), "v"))
		}
		return ts
	}
	// Up to 50 tags in all: 48 more fit beside the two there.
	if _, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: many(48, "k")}); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(aws.ToString(arn), "000000000000", "111111111111", 1)
	for _, tt := range []struct {
		what string
		call func() error
		want string
	}{
		{"a 51st tag", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag("one-more", "x")}})
			return err
		}, "TooManyTagsException"},
		{"CreateApplication with 51 tags", func() error {
			_, err := ac.CreateApplication(ctx, &kda.CreateApplicationInput{ApplicationName: aws.String("crowded"),
				RuntimeEnvironment: kdatypes.RuntimeEnvironmentSql10, ServiceExecutionRole: aws.String(role), Tags: many(51, "k")})
			return err
		}, "TooManyTagsException"},
		{"an aws: key", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag("AWS:owner", "x")}})
			return err
		}, "InvalidArgumentException"},
		{"untagging an aws: key", func() error {
			_, err := ac.UntagResource(ctx, &kda.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"aws:cloudformation:stack-name"}})
			return err
		}, "InvalidArgumentException"},
		{"a key given twice", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag("k00", "a"), tag("k00", "b")}})
			return err
		}, "InvalidArgumentException"},
		{"a key of 129 characters", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag(strings.Repeat("k", 129), "x")}})
			return err
		}, "ValidationException"},
		{"a value of 257 characters", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: arn, Tags: []kdatypes.Tag{tag("k00", strings.Repeat("v", 257))}})
			return err
		}, "ValidationException"},
		{"an application that does not exist", func() error {
			_, err := ac.TagResource(ctx, &kda.TagResourceInput{ResourceARN: aws.String(strings.Replace(aws.ToString(arn), "tagged", "nope", 1)), Tags: []kdatypes.Tag{tag("a", "b")}})
			return err
		}, "ResourceNotFoundException"},
		{"another account's application", func() error {
			_, err := ac.ListTagsForResource(ctx, &kda.ListTagsForResourceInput{ResourceARN: aws.String(other)})
			return err
		}, "ResourceNotFoundException"},
		{"a stream ARN", func() error {
			_, err := ac.ListTagsForResource(ctx, &kda.ListTagsForResourceInput{ResourceARN: aws.String(streamARN("clicks"))})
			return err
		}, "InvalidArgumentException"},
	} {
		if err := tt.call(); errCode(err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.what, err, tt.want)
		}
	}
	if got := list(); len(got) != 50 || got["env"] != "prod" {
		t.Errorf("after the refusals: %d tags (%v), want the 50 kept", len(got), got)
	}
	if _, err := ac.DescribeApplication(ctx, &kda.DescribeApplicationInput{ApplicationName: aws.String("crowded")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("the application refused for its tags exists: %v", err)
	}
}
