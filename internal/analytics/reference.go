package analytics

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/analytics/analyticsapi"
	"github.com/millrace/millrace/internal/awsproto"
)

// ObjectReader reads an S3 object: where reference tables come from.
type ObjectReader interface {
	Get(ctx context.Context, bucket, key string) ([]byte, error)
}

// S3Reader reads objects with aws-sdk-go-v2's S3 client.
type S3Reader struct{ Client *awss3.Client }

var _ ObjectReader = S3Reader{}

// Get reads the object whole.
func (r S3Reader) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := r.Client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Reference is a reference data source of an application: an S3 object
// read into the in-application table Table whenever the application
// starts (so also after UpdateApplication).
type Reference struct {
	Table  string `json:"table"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Schema Schema `json:"schema"`
}

// loadTables reads an application's reference tables.
func loadTables(ctx context.Context, objects ObjectReader, refs []Reference) ([]Table, error) {
	var tables []Table
	for _, r := range refs {
		if objects == nil {
			return nil, fmt.Errorf("reference table %s: no S3 server is configured (--firehose-s3-endpoint) to read s3://%s/%s from", r.Table, r.Bucket, r.Key)
		}
		data, err := objects.Get(ctx, r.Bucket, r.Key)
		if err != nil {
			return nil, fmt.Errorf("reference table %s: reading s3://%s/%s: %w", r.Table, r.Bucket, r.Key, err)
		}
		t, err := LoadTable(r.Table, r.Schema, data)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// referenceRecord is a reference data source as the catalog holds it.
type referenceRecord struct {
	ID, TableName, BucketARN, FileKey string
	Schema                            Schema
}

// bucketOf is the bucket an S3 bucket ARN (arn:aws:s3:::bucket) names.
func bucketOf(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" || parts[5] == "" || strings.Contains(parts[5], "/") {
		return "", invalid("BucketARN %q is not an S3 bucket ARN (arn:aws:s3:::bucket).", arn)
	}
	return parts[5], nil
}

func (s *Service) toReference(a *appRecord, rd *analyticsapi.ReferenceDataSource) (referenceRecord, error) {
	name := deref(rd.TableName)
	if name == "" {
		return referenceRecord{}, invalid("ReferenceDataSource needs a TableName.")
	}
	if rd.S3ReferenceDataSource == nil || deref(rd.S3ReferenceDataSource.BucketARN) == "" || deref(rd.S3ReferenceDataSource.FileKey) == "" {
		return referenceRecord{}, invalid("ReferenceDataSource %s needs S3ReferenceDataSource with a BucketARN and a FileKey.", name)
	}
	if _, err := bucketOf(*rd.S3ReferenceDataSource.BucketARN); err != nil {
		return referenceRecord{}, err
	}
	if rd.ReferenceSchema == nil {
		return referenceRecord{}, invalid("ReferenceDataSource %s needs a ReferenceSchema.", name)
	}
	sc, err := toSchema(rd.ReferenceSchema)
	if err != nil {
		return referenceRecord{}, err
	}
	next := 1
	for _, r := range a.References {
		if strings.EqualFold(r.TableName, name) {
			return referenceRecord{}, invalid("Application %s already has a reference table %s.", a.Name, name)
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(r.ID, "1.")); err == nil && n >= next {
			next = n + 1
		}
	}
	return referenceRecord{ID: "1." + strconv.Itoa(next), TableName: name, BucketARN: *rd.S3ReferenceDataSource.BucketARN,
		FileKey: *rd.S3ReferenceDataSource.FileKey, Schema: sc}, nil
}

// tablesOf are an application's reference tables without their rows, to
// compile its code against.
func tablesOf(a *appRecord) []Table {
	var ts []Table
	for _, r := range a.References {
		ts = append(ts, Table{Name: r.TableName, Schema: r.Schema})
	}
	return ts
}

func referencesOf(a *appRecord) []Reference {
	var refs []Reference
	for _, r := range a.References {
		bucket, _ := bucketOf(r.BucketARN)
		refs = append(refs, Reference{Table: r.TableName, Bucket: bucket, Key: r.FileKey, Schema: r.Schema})
	}
	return refs
}

func referenceDescriptions(a *appRecord) []analyticsapi.ReferenceDataSourceDescription {
	var out []analyticsapi.ReferenceDataSourceDescription
	for _, r := range a.References {
		out = append(out, analyticsapi.ReferenceDataSourceDescription{ReferenceId: ptr(r.ID), TableName: ptr(r.TableName),
			ReferenceSchema: fromSchema(r.Schema),
			S3ReferenceDataSourceDescription: &analyticsapi.S3ReferenceDataSourceDescription{
				BucketARN: ptr(r.BucketARN), FileKey: ptr(r.FileKey)}})
	}
	return out
}

// updateReferences applies UpdateApplication's ReferenceDataSourceUpdates.
func (s *Service) updateReferences(a *appRecord, updates []analyticsapi.ReferenceDataSourceUpdate) error {
	for _, u := range updates {
		i := -1
		for j := range a.References {
			if a.References[j].ID == deref(u.ReferenceId) {
				i = j
			}
		}
		if i < 0 {
			return awsproto.NewError("ResourceNotFoundException", "Reference data source %s is not found.", deref(u.ReferenceId))
		}
		r := a.References[i]
		rd := &analyticsapi.ReferenceDataSource{TableName: ptr(r.TableName), ReferenceSchema: fromSchema(r.Schema),
			S3ReferenceDataSource: &analyticsapi.S3ReferenceDataSource{BucketARN: ptr(r.BucketARN), FileKey: ptr(r.FileKey)}}
		if u.TableNameUpdate != nil {
			rd.TableName = u.TableNameUpdate
		}
		if u.ReferenceSchemaUpdate != nil {
			rd.ReferenceSchema = u.ReferenceSchemaUpdate
		}
		if su := u.S3ReferenceDataSourceUpdate; su != nil {
			if su.BucketARNUpdate != nil {
				rd.S3ReferenceDataSource.BucketARN = su.BucketARNUpdate
			}
			if su.FileKeyUpdate != nil {
				rd.S3ReferenceDataSource.FileKey = su.FileKeyUpdate
			}
		}
		others := &appRecord{Name: a.Name, References: append(append([]referenceRecord(nil), a.References[:i]...), a.References[i+1:]...)}
		nr, err := s.toReference(others, rd)
		if err != nil {
			return err
		}
		nr.ID = r.ID
		a.References[i] = nr
	}
	return nil
}

func (s *Service) addApplicationReferenceDataSource(ctx context.Context, in *analyticsapi.AddApplicationReferenceDataSourceRequest) (*analyticsapi.AddApplicationReferenceDataSourceResponse, error) {
	a, err := s.change(ctx, "AddApplicationReferenceDataSource", deref(in.ApplicationName), in.CurrentApplicationVersionId, func(a *appRecord) error {
		if in.ReferenceDataSource == nil {
			return invalid("ReferenceDataSource is required.")
		}
		r, err := s.toReference(a, in.ReferenceDataSource)
		if err != nil {
			return err
		}
		a.References = append(a.References, r)
		return checkCode(a)
	})
	if err != nil {
		return nil, err
	}
	return &analyticsapi.AddApplicationReferenceDataSourceResponse{ApplicationARN: ptr(a.arn()), ApplicationVersionId: ptr(a.Version),
		ReferenceDataSourceDescriptions: referenceDescriptions(a)}, nil
}

func (s *Service) deleteApplicationReferenceDataSource(ctx context.Context, in *analyticsapi.DeleteApplicationReferenceDataSourceRequest) (*analyticsapi.DeleteApplicationReferenceDataSourceResponse, error) {
	a, err := s.change(ctx, "DeleteApplicationReferenceDataSource", deref(in.ApplicationName), in.CurrentApplicationVersionId, func(a *appRecord) error {
		for i, r := range a.References {
			if r.ID == deref(in.ReferenceId) {
				a.References = append(a.References[:i], a.References[i+1:]...)
				return checkCode(a)
			}
		}
		return awsproto.NewError("ResourceNotFoundException", "Reference data source %s is not found.", deref(in.ReferenceId))
	})
	if err != nil {
		return nil, err
	}
	return &analyticsapi.DeleteApplicationReferenceDataSourceResponse{ApplicationARN: ptr(a.arn()), ApplicationVersionId: ptr(a.Version)}, nil
}
