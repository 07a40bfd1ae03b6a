package s3

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Putter writes one object. *awss3.Client satisfies it through
// ClientPutter; tests can give their own.
type Putter interface {
	Put(ctx context.Context, bucket, key string, body []byte) error
}

// ClientPutter writes objects with aws-sdk-go-v2's S3 client.
type ClientPutter struct{ Client *awss3.Client }

var _ Putter = ClientPutter{}

// Put writes the object with PutObject.
func (c ClientPutter) Put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := c.Client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	return err
}

// BucketFromARN returns the bucket an S3 bucket ARN names
// (arn:aws:s3:::bucket), or "" when it is not one.
func BucketFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" || parts[5] == "" || strings.Contains(parts[5], "/") {
		return ""
	}
	return parts[5]
}

// Config is one S3 destination (the destination itself, or the backup
// and error bucket of another destination).
type Config struct {
	Bucket      string
	Prefix      *Template // nil: the default time prefix
	ErrorPrefix *Template // nil: <error-output-type>/ and the default time prefix
	Compression string
	// FileExtension, when set, replaces the extension the encoder and the
	// compression give.
	FileExtension string
	TimeZone      *time.Location // nil: UTC
	Encoder       sink.Encoder   // nil: records as they are
}

// Destination writes batches as objects.
type Destination struct {
	cfg Config
	put Putter
}

var _ sink.Destination = (*Destination)(nil)

// New returns the destination.
func New(cfg Config, put Putter) *Destination {
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
	}
	if cfg.Encoder == nil {
		cfg.Encoder = Raw{}
	}
	if cfg.Prefix == nil {
		cfg.Prefix, _ = ParsePrefix("", true)
	}
	return &Destination{cfg: cfg, put: put}
}

// Raw is the encoder of records as they are: concatenated, with no
// separator (Firehose adds none; AppendDelimiterToRecord does).
type Raw struct{}

var _ sink.Encoder = Raw{}

// Encode concatenates the records.
func (Raw) Encode(records []sink.Record) ([]byte, []sink.Rejection, error) {
	n := 0
	for _, r := range records {
		n += len(r.Data)
	}
	body := make([]byte, 0, n)
	for _, r := range records {
		body = append(body, r.Data...)
	}
	return body, nil, nil
}

// Extension is "": raw records have none.
func (Raw) Extension() string { return "" }

// ObjectName is the part of a key after the prefix:
// <stream>-<version>-YYYY-MM-dd-HH-MM-SS-<id>.
func ObjectName(stream string, version int, t time.Time, id string) string {
	return fmt.Sprintf("%s-%d-%s-%s", stream, version, t.Format("2006-01-02-15-04-05"), id)
}

// Deliver encodes, compresses and writes the batch as one object. Records
// the encoder refuses come back as Rejected (the engine writes them under
// the error prefix as format-conversion-failed).
func (d *Destination) Deliver(ctx context.Context, b *sink.Batch) (sink.Result, error) {
	_, raw := d.cfg.Encoder.(Raw)
	var body []byte
	var failed []sink.Rejection
	var err error
	if !raw {
		body, failed, err = d.cfg.Encoder.Encode(b.Records)
		if err != nil {
			return sink.Result{}, fmt.Errorf("encoding the batch: %w", err)
		}
		if len(failed) == len(b.Records) {
			return sink.Result{Rejected: failed}, nil
		}
	}
	t := b.FirstArrival.In(d.cfg.TimeZone)
	prefix, err := d.cfg.Prefix.Eval(Values{Time: t, PartitionKeys: b.PartitionKeys})
	if err != nil {
		return sink.Result{}, err
	}
	name := ObjectName(b.Stream, b.Version, b.FirstArrival.UTC(), b.ID)
	ext := d.cfg.Encoder.Extension() + CompressionExtension(d.cfg.Compression)
	if d.cfg.FileExtension != "" {
		ext = d.cfg.FileExtension
	}
	switch {
	case raw:
		// Records as they are go into the compressor one by one.
		body, err = CompressRecords(d.cfg.Compression, name, b.Records)
	case d.cfg.Encoder.Extension() == "":
		body, err = Compress(d.cfg.Compression, name, body)
	}
	if err != nil {
		return sink.Result{}, err
	}
	key := prefix + name + ext
	if err := d.put.Put(ctx, d.cfg.Bucket, key, body); err != nil {
		return sink.Result{}, fmt.Errorf("writing s3://%s/%s: %w", d.cfg.Bucket, key, err)
	}
	return sink.Result{Rejected: failed, Location: "s3://" + d.cfg.Bucket + "/" + key}, nil
}

// PutErrors writes an error or backup object under the error prefix with
// the error output type: body is the error records, one JSON document a
// line. It returns the object's location.
func (d *Destination) PutErrors(ctx context.Context, errorType, stream string, version int, first time.Time, id string, body []byte) (string, error) {
	tpl := d.cfg.ErrorPrefix
	if tpl == nil {
		tpl, _ = ParsePrefix("!{firehose:error-output-type}/", true)
	}
	prefix, err := tpl.Eval(Values{Time: first.In(d.cfg.TimeZone), ErrorOutputType: errorType})
	if err != nil {
		return "", err
	}
	name := ObjectName(stream, version, first.UTC(), id)
	key := prefix + name
	if err := d.put.Put(ctx, d.cfg.Bucket, key, body); err != nil {
		return "", fmt.Errorf("writing s3://%s/%s: %w", d.cfg.Bucket, key, err)
	}
	return "s3://" + d.cfg.Bucket + "/" + key, nil
}

// Close does nothing: the S3 client's connections are shared.
func (d *Destination) Close() error { return nil }
