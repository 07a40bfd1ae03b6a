// Package s3test finds the S3 server that tests of the S3 destination
// write to: a real S3-compatible server process (CI starts s3rver on
// loopback and names it in MILLRACE_TEST_S3_ENDPOINT).
package s3test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// EnvEndpoint names the S3 server's URL; EnvAccessKeyID and
// EnvSecretAccessKey its keys (default S3RVER, s3rver's).
const (
	EnvEndpoint        = "MILLRACE_TEST_S3_ENDPOINT"
	EnvAccessKeyID     = "MILLRACE_TEST_S3_ACCESS_KEY_ID"
	EnvSecretAccessKey = "MILLRACE_TEST_S3_SECRET_ACCESS_KEY"
)

// Server is an S3 server for a test.
type Server struct {
	Endpoint, AccessKeyID, SecretAccessKey string
	Client                                 *awss3.Client
}

// Start returns the S3 server named in the environment. Without one the
// test is skipped, saying how to start one; under CI=true it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	ep := os.Getenv(EnvEndpoint)
	if ep == "" {
		msg := "no S3 server: start one (npm install s3rver@3.7.1; s3rver -d DIR -a 127.0.0.1 -p 24568) and set " +
			EnvEndpoint + "=http://127.0.0.1:24568"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{Endpoint: ep, AccessKeyID: envOr(EnvAccessKeyID, "S3RVER"), SecretAccessKey: envOr(EnvSecretAccessKey, "S3RVER")}
	s.Client = awss3.New(awss3.Options{
		BaseEndpoint: aws.String(ep), UsePathStyle: true, Region: "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return s
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Bucket creates a bucket of a name unique to this run.
func (s *Server) Bucket(t testing.TB, stem string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", stem, time.Now().UnixNano())
	if _, err := s.Client.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Keys lists a bucket's keys under prefix, sorted.
func (s *Server) Keys(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	p := awss3.NewListObjectsV2Paginator(s.Client, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// Get reads an object.
func (s *Server) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.Client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
