package firehose

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/firehose/format"
	"github.com/millrace/millrace/internal/firehose/httpendpoint"
	"github.com/millrace/millrace/internal/firehose/opensearch"
	"github.com/millrace/millrace/internal/firehose/postgres"
	"github.com/millrace/millrace/internal/firehose/s3"
	"github.com/millrace/millrace/internal/firehose/sink"
	"github.com/millrace/millrace/internal/firehose/splunk"
)

// destConfig is the destination of a delivery stream as the catalog
// stores it: exactly one member is set. A destination kind is delivered
// once build knows it.
type destConfig struct {
	S3 *firehoseapi.ExtendedS3DestinationConfiguration `json:"s3,omitempty"`
	// S3Only: created through the deprecated S3DestinationConfiguration,
	// which DescribeDeliveryStream shows without the extended members.
	S3Only bool                                              `json:"s3Only,omitempty"`
	HTTP   *firehoseapi.HttpEndpointDestinationConfiguration `json:"http,omitempty"`
	// Redshift loads into PostgreSQL.
	Redshift *firehoseapi.RedshiftDestinationConfiguration `json:"redshift,omitempty"`
	// OpenSearch indexes with _bulk; Elasticsearch: it was created with
	// ElasticsearchDestinationConfiguration, whose members are the same.
	OpenSearch    *firehoseapi.AmazonopensearchserviceDestinationConfiguration `json:"openSearch,omitempty"`
	Elasticsearch bool                                                         `json:"elasticsearch,omitempty"`
	Splunk        *firehoseapi.SplunkDestinationConfiguration                  `json:"splunk,omitempty"`
	// GlueColumns are the columns of the Glue table that the S3
	// destination's SchemaConfiguration names, as read when the delivery
	// stream was created or last updated.
	GlueColumns []format.Column `json:"glueColumns,omitempty"`
}

// destinationKind names the destination configuration of a create
// request, refusing zero or several and the kinds Millrace does not
// deliver yet.
func destinationFromInput(in *firehoseapi.CreateDeliveryStreamInput) (destConfig, error) {
	var d destConfig
	n := 0
	unsupported := ""
	count := func(set bool, kind string, ok bool) {
		if set {
			n++
			if !ok && unsupported == "" {
				unsupported = kind
			}
		}
	}
	count(in.ExtendedS3DestinationConfiguration != nil, "ExtendedS3DestinationConfiguration", true)
	count(in.S3DestinationConfiguration != nil, "S3DestinationConfiguration", true)
	count(in.HttpEndpointDestinationConfiguration != nil, "HttpEndpointDestinationConfiguration", true)
	count(in.RedshiftDestinationConfiguration != nil, "RedshiftDestinationConfiguration", true)
	count(in.ElasticsearchDestinationConfiguration != nil, "ElasticsearchDestinationConfiguration", true)
	count(in.AmazonopensearchserviceDestinationConfiguration != nil, "AmazonopensearchserviceDestinationConfiguration", true)
	count(in.AmazonOpenSearchServerlessDestinationConfiguration != nil, "AmazonOpenSearchServerlessDestinationConfiguration", false)
	count(in.SplunkDestinationConfiguration != nil, "SplunkDestinationConfiguration", true)
	count(in.SnowflakeDestinationConfiguration != nil, "SnowflakeDestinationConfiguration", false)
	count(in.IcebergDestinationConfiguration != nil, "IcebergDestinationConfiguration", false)
	switch {
	case n == 0:
		return d, errInvalid("Exactly one destination configuration must be provided; none was.")
	case n > 1:
		return d, errInvalid("Exactly one destination configuration must be provided; %d were.", n)
	case unsupported != "":
		return d, errNotSupported("The destination " + unsupported)
	}
	switch {
	case in.ExtendedS3DestinationConfiguration != nil:
		d.S3 = in.ExtendedS3DestinationConfiguration
	case in.S3DestinationConfiguration != nil:
		d.S3 = extendedFromS3(in.S3DestinationConfiguration)
		d.S3Only = true
	case in.HttpEndpointDestinationConfiguration != nil:
		d.HTTP = in.HttpEndpointDestinationConfiguration
	case in.RedshiftDestinationConfiguration != nil:
		d.Redshift = in.RedshiftDestinationConfiguration
	case in.AmazonopensearchserviceDestinationConfiguration != nil:
		d.OpenSearch = in.AmazonopensearchserviceDestinationConfiguration
	case in.ElasticsearchDestinationConfiguration != nil:
		d.OpenSearch = new(firehoseapi.AmazonopensearchserviceDestinationConfiguration)
		convert(in.ElasticsearchDestinationConfiguration, d.OpenSearch)
		d.Elasticsearch = true
	case in.SplunkDestinationConfiguration != nil:
		d.Splunk = in.SplunkDestinationConfiguration
	}
	return d, nil
}

func extendedFromS3(c *firehoseapi.S3DestinationConfiguration) *firehoseapi.ExtendedS3DestinationConfiguration {
	return &firehoseapi.ExtendedS3DestinationConfiguration{
		BucketARN: c.BucketARN, BufferingHints: c.BufferingHints, CloudWatchLoggingOptions: c.CloudWatchLoggingOptions,
		CompressionFormat: c.CompressionFormat, EncryptionConfiguration: c.EncryptionConfiguration,
		ErrorOutputPrefix: c.ErrorOutputPrefix, Prefix: c.Prefix, RoleARN: c.RoleARN,
	}
}

// plan is what a delivery stream's configuration becomes for the
// delivery engine.
type plan struct {
	dest sink.Destination
	// sizeBytes and interval are the buffering hints.
	sizeBytes int
	interval  time.Duration
	// retry is how long a failing batch is retried before it goes to the
	// error output; 0: retried until the stream's 24-hour limit.
	retry time.Duration
	// errors writes the error output and backups; errorType is the
	// destination's error output type (e.g. http-endpoint-failed).
	errors    *s3.Destination
	errorType string
	// failCode is the error code of records whose batch failed for the
	// whole retry duration, when the destination's error carries none.
	failCode string
	// backupAll: every source record also goes to the backup bucket.
	backupAll *s3.Destination
	proc      *pipeline
	// dynamic: dynamic partitioning, one buffer per partition.
	dynamic bool
}

// maxS3Retry is how long Firehose keeps retrying an S3 delivery.
const maxS3Retry = 24 * time.Hour

// build turns a delivery stream's destination into a plan: the one place
// where a configuration becomes a sink.Destination and a sink.Encoder.
// Kinds and options not delivered yet are refused with
// InvalidArgumentException, at CreateDeliveryStream and UpdateDestination.
func (s *Service) build(d *deliveryStream) (*plan, error) {
	switch {
	case d.Dest.S3 != nil:
		c := d.Dest.S3
		enc, err := encoder(c, d.Dest.GlueColumns)
		if err != nil {
			return nil, err
		}
		dyn := c.DynamicPartitioningConfiguration != nil && awsproto.Value(c.DynamicPartitioningConfiguration.Enabled)
		cfg, err := s3Config(c.BucketARN, c.Prefix, c.ErrorOutputPrefix, c.CompressionFormat, c.CustomTimeZone, dyn, "ExtendedS3DestinationConfiguration")
		if err != nil {
			return nil, err
		}
		cfg.FileExtension = awsproto.Value(c.FileExtension)
		cfg.Encoder = enc
		proc, err := s.newPipeline(d, c.ProcessingConfiguration, dyn, cfg.Prefix)
		if err != nil {
			return nil, err
		}
		dest := s3.New(cfg, s.s3Putter())
		p := &plan{dest: dest, errors: dest, errorType: "", proc: proc, retry: maxS3Retry, dynamic: dyn}
		p.sizeBytes, p.interval = hints(c.BufferingHints.SizeInMBs, c.BufferingHints.IntervalInSeconds)
		if dyn && c.DynamicPartitioningConfiguration.RetryOptions != nil {
			p.retry = time.Duration(awsproto.Value(c.DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds)) * time.Second
		}
		if awsproto.Value(c.S3BackupMode) == firehoseapi.S3BackupModeEnabled && c.S3BackupConfiguration != nil {
			b := c.S3BackupConfiguration
			bcfg, err := s3Config(b.BucketARN, b.Prefix, b.ErrorOutputPrefix, b.CompressionFormat, nil, false, "S3BackupConfiguration")
			if err != nil {
				return nil, err
			}
			p.backupAll = s3.New(bcfg, s.s3Putter())
		}
		return p, nil
	case d.Dest.HTTP != nil:
		c := d.Dest.HTTP
		b := c.S3Configuration
		bcfg, err := s3Config(b.BucketARN, b.Prefix, b.ErrorOutputPrefix, b.CompressionFormat, nil, false, "S3Configuration")
		if err != nil {
			return nil, err
		}
		proc, err := s.newPipeline(d, c.ProcessingConfiguration, false, nil)
		if err != nil {
			return nil, err
		}
		attrs := map[string]string{}
		gz := false
		if rc := c.RequestConfiguration; rc != nil {
			for _, a := range rc.CommonAttributes {
				attrs[awsproto.Value(a.AttributeName)] = awsproto.Value(a.AttributeValue)
			}
			gz = awsproto.Value(rc.ContentEncoding) == firehoseapi.ContentEncodingGzip
		}
		backup := s3.New(bcfg, s.s3Putter())
		p := &plan{
			dest: httpendpoint.New(httpendpoint.Config{
				URL: awsproto.Value(c.EndpointConfiguration.Url), AccessKey: awsproto.Value(c.EndpointConfiguration.AccessKey),
				CommonAttributes: attrs, GZIP: gz, SourceARN: d.ARN, Client: s.opts.HTTPClient, Now: s.now,
			}),
			errors: backup, errorType: "http-endpoint-failed", proc: proc,
			retry: time.Duration(awsproto.Value(c.RetryOptions.DurationInSeconds)) * time.Second,
		}
		p.sizeBytes, p.interval = hints(c.BufferingHints.SizeInMBs, c.BufferingHints.IntervalInSeconds)
		if awsproto.Value(c.S3BackupMode) == firehoseapi.HttpEndpointS3BackupModeAllData {
			p.backupAll = backup
		}
		return p, nil
	case d.Dest.Redshift != nil:
		return s.buildRedshift(d)
	case d.Dest.OpenSearch != nil:
		return s.buildOpenSearch(d)
	case d.Dest.Splunk != nil:
		return s.buildSplunk(d)
	}
	return nil, errInvalid("The delivery stream %s has no destination Millrace delivers.", d.Name)
}

// buildRedshift loads into PostgreSQL: the intermediate bucket
// (S3Configuration) takes the error output, S3BackupConfiguration the
// source records when S3BackupMode is Enabled.
func (s *Service) buildRedshift(d *deliveryStream) (*plan, error) {
	c := d.Dest.Redshift
	const member = "RedshiftDestinationConfiguration"
	switch {
	case awsproto.Value(c.ClusterJDBCURL) == "":
		return nil, errInvalid("%s.ClusterJDBCURL is required.", member)
	case c.CopyCommand == nil || awsproto.Value(c.CopyCommand.DataTableName) == "":
		return nil, errInvalid("%s.CopyCommand.DataTableName is required.", member)
	case c.SecretsManagerConfiguration != nil && awsproto.Value(c.SecretsManagerConfiguration.Enabled):
		return nil, errNotSupported(member + ".SecretsManagerConfiguration (give Username and Password)")
	case awsproto.Value(c.Username) == "" || c.Password == nil:
		return nil, errInvalid("%s needs Username and Password.", member)
	case c.S3Configuration == nil:
		return nil, errInvalid("%s.S3Configuration (the intermediate bucket) is required.", member)
	}
	b := c.S3Configuration
	switch awsproto.Value(b.CompressionFormat) {
	case firehoseapi.CompressionFormatSnappy, firehoseapi.CompressionFormatZip, firehoseapi.CompressionFormatHadoopSnappy:
		return nil, errInvalid("CompressionFormat %s cannot be used in %s.S3Configuration: Redshift's COPY does not read it.", awsproto.Value(b.CompressionFormat), member)
	}
	bcfg, err := s3Config(b.BucketARN, b.Prefix, b.ErrorOutputPrefix, b.CompressionFormat, nil, false, member+".S3Configuration")
	if err != nil {
		return nil, err
	}
	proc, err := s.newPipeline(d, c.ProcessingConfiguration, false, nil)
	if err != nil {
		return nil, err
	}
	cc := c.CopyCommand
	dest, err := postgres.New(postgres.Config{
		ClusterJDBCURL: awsproto.Value(c.ClusterJDBCURL), Username: awsproto.Value(c.Username), Password: awsproto.Value(c.Password),
		CopyCommand: postgres.CopyCommand{DataTableName: awsproto.Value(cc.DataTableName),
			DataTableColumns: awsproto.Value(cc.DataTableColumns), CopyOptions: awsproto.Value(cc.CopyOptions)},
	})
	if err != nil {
		return nil, errInvalid("%s is not valid: %v.", member, err)
	}
	p := &plan{dest: dest, errors: s3.New(bcfg, s.s3Putter()), errorType: "redshift-failed", failCode: "Redshift.CopyFailed", proc: proc,
		retry: time.Duration(awsproto.Value(c.RetryOptions.DurationInSeconds)) * time.Second}
	p.sizeBytes, p.interval = hints(b.BufferingHints.SizeInMBs, b.BufferingHints.IntervalInSeconds)
	if awsproto.Value(c.S3BackupMode) == firehoseapi.RedshiftS3BackupModeEnabled {
		k := c.S3BackupConfiguration
		if k == nil {
			dest.Close()
			return nil, errInvalid("%s.S3BackupConfiguration is required when S3BackupMode is Enabled.", member)
		}
		kcfg, err := s3Config(k.BucketARN, k.Prefix, k.ErrorOutputPrefix, k.CompressionFormat, nil, false, member+".S3BackupConfiguration")
		if err != nil {
			dest.Close()
			return nil, err
		}
		p.backupAll = s3.New(kcfg, s.s3Putter())
	}
	return p, nil
}

// backupBucket is the S3 bucket of an OpenSearch or Splunk destination:
// the error output, and every record with all-records backup.
func (s *Service) backupBucket(p *plan, b *firehoseapi.S3DestinationConfiguration, member string, all bool) error {
	if b == nil {
		return errInvalid("%s.S3Configuration is required.", member)
	}
	cfg, err := s3Config(b.BucketARN, b.Prefix, b.ErrorOutputPrefix, b.CompressionFormat, nil, false, member+".S3Configuration")
	if err != nil {
		return err
	}
	p.errors = s3.New(cfg, s.s3Putter())
	if all {
		p.backupAll = p.errors
	}
	return nil
}

// buildOpenSearch indexes into an OpenSearch or Elasticsearch cluster.
func (s *Service) buildOpenSearch(d *deliveryStream) (*plan, error) {
	c := d.Dest.OpenSearch
	member, errorType := "AmazonopensearchserviceDestinationConfiguration", "AmazonOpenSearchService-failed"
	if d.Dest.Elasticsearch {
		member, errorType = "ElasticsearchDestinationConfiguration", "elasticsearch-failed"
	}
	if c.VpcConfiguration != nil {
		return nil, errNotSupported(member + ".VpcConfiguration")
	}
	proc, err := s.newPipeline(d, c.ProcessingConfiguration, false, nil)
	if err != nil {
		return nil, err
	}
	cfg := opensearch.Config{ClusterEndpoint: awsproto.Value(c.ClusterEndpoint), DomainARN: awsproto.Value(c.DomainARN),
		IndexName: awsproto.Value(c.IndexName), TypeName: awsproto.Value(c.TypeName),
		IndexRotationPeriod: string(awsproto.Value(c.IndexRotationPeriod)), Client: s.opts.HTTPClient}
	if o := c.DocumentIdOptions; o != nil {
		cfg.DocumentIdOptions = &opensearch.DocumentIdOptions{DefaultDocumentIdFormat: string(awsproto.Value(o.DefaultDocumentIdFormat))}
	}
	dest, err := opensearch.New(cfg)
	if err != nil {
		return nil, errInvalid("%s is not valid: %v.", member, err)
	}
	p := &plan{dest: dest, errorType: errorType, failCode: "OS.DeliveryFailed", proc: proc,
		retry: time.Duration(awsproto.Value(c.RetryOptions.DurationInSeconds)) * time.Second}
	p.sizeBytes, p.interval = hints(c.BufferingHints.SizeInMBs, c.BufferingHints.IntervalInSeconds)
	if err := s.backupBucket(p, c.S3Configuration, member, awsproto.Value(c.S3BackupMode) == firehoseapi.AmazonopensearchserviceS3BackupModeAllDocuments); err != nil {
		return nil, err
	}
	return p, nil
}

// buildSplunk sends to a Splunk HTTP Event Collector.
func (s *Service) buildSplunk(d *deliveryStream) (*plan, error) {
	c := d.Dest.Splunk
	const member = "SplunkDestinationConfiguration"
	if c.SecretsManagerConfiguration != nil && awsproto.Value(c.SecretsManagerConfiguration.Enabled) {
		return nil, errNotSupported(member + ".SecretsManagerConfiguration (give HECToken)")
	}
	proc, err := s.newPipeline(d, c.ProcessingConfiguration, false, nil)
	if err != nil {
		return nil, err
	}
	dest, err := splunk.New(splunk.Config{HECEndpoint: awsproto.Value(c.HECEndpoint), HECEndpointType: string(awsproto.Value(c.HECEndpointType)),
		HECToken: awsproto.Value(c.HECToken), HECAcknowledgmentTimeoutInSeconds: c.HECAcknowledgmentTimeoutInSeconds, Client: s.opts.HTTPClient})
	if err != nil {
		return nil, errInvalid("%s is not valid: %v.", member, err)
	}
	p := &plan{dest: dest, errorType: "splunk-failed", failCode: splunk.CodeServerError, proc: proc,
		retry: time.Duration(awsproto.Value(c.RetryOptions.DurationInSeconds)) * time.Second}
	p.sizeBytes, p.interval = hints(c.BufferingHints.SizeInMBs, c.BufferingHints.IntervalInSeconds)
	if err := s.backupBucket(p, c.S3Configuration, member, awsproto.Value(c.S3BackupMode) == firehoseapi.SplunkS3BackupModeAllEvents); err != nil {
		return nil, err
	}
	return p, nil
}

// check builds a delivery stream's plan to validate its configuration,
// then releases what the plan holds.
func (s *Service) check(d *deliveryStream) error {
	p, err := s.build(d)
	if err != nil {
		return err
	}
	if err := s.checkRoles(d); err != nil {
		p.dest.Close()
		return err
	}
	return p.dest.Close()
}

// conversionEnabled reports whether an S3 destination converts records
// to Parquet: Enabled defaults to true.
func conversionEnabled(c *firehoseapi.ExtendedS3DestinationConfiguration) bool {
	conv := c.DataFormatConversionConfiguration
	return conv != nil && (conv.Enabled == nil || *conv.Enabled)
}

// encoder is the S3 destination's record format conversion, or nil for
// records as they are. columns are the Glue table's.
func encoder(c *firehoseapi.ExtendedS3DestinationConfiguration, columns []format.Column) (sink.Encoder, error) {
	if !conversionEnabled(c) {
		return nil, nil
	}
	conv := c.DataFormatConversionConfiguration
	const member = "ExtendedS3DestinationConfiguration.DataFormatConversionConfiguration"
	if conv.InputFormatConfiguration == nil || conv.OutputFormatConfiguration == nil || conv.SchemaConfiguration == nil {
		return nil, errInvalid("%s needs InputFormatConfiguration, OutputFormatConfiguration and SchemaConfiguration when it is enabled.", member)
	}
	if comp := awsproto.Value(c.CompressionFormat); comp != "" && comp != firehoseapi.CompressionFormatUncompressed {
		return nil, errInvalid("CompressionFormat must be UNCOMPRESSED when record format conversion is enabled, not %s: the serializer compresses (ParquetSerDe.Compression).", comp)
	}
	cfg := format.Config{Columns: columns}
	convert(conv.InputFormatConfiguration, &cfg.InputFormatConfiguration)
	convert(conv.OutputFormatConfiguration, &cfg.OutputFormatConfiguration)
	p, err := format.New(cfg)
	if errors.Is(err, format.ErrORCUnsupported) {
		return nil, errNotSupported("OrcSerDe (record format conversion to ORC: no maintained Go ORC writer exists; use ParquetSerDe)")
	}
	if err != nil {
		return nil, errInvalid("%s is not valid: %v.", member, err)
	}
	return p, nil
}

// readGlueTable reads the columns of the Glue table an S3 destination's
// record format conversion names, from <database>.<table>.json in the
// GlueTables directory, and keeps them in the destination.
func (s *Service) readGlueTable(d *destConfig) error {
	d.GlueColumns = nil
	if d.S3 == nil || !conversionEnabled(d.S3) || d.S3.DataFormatConversionConfiguration.SchemaConfiguration == nil {
		return nil
	}
	sc := d.S3.DataFormatConversionConfiguration.SchemaConfiguration
	db, table := awsproto.Value(sc.DatabaseName), awsproto.Value(sc.TableName)
	if db == "" || table == "" {
		return errInvalid("SchemaConfiguration needs DatabaseName and TableName.")
	}
	file := db + "." + table + ".json"
	if strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") {
		return errInvalid("The Glue table %s.%s has a name Millrace cannot read as a file.", db, table)
	}
	if s.opts.GlueTables == "" {
		return errInvalid("The Glue table %s.%s was not found: Millrace reads Glue tables from the directory set with --firehose-glue-tables (file %s), and none is set.", db, table, file)
	}
	path := filepath.Join(s.opts.GlueTables, file)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errInvalid("The Glue table %s.%s was not found: Millrace reads it from %s, which does not exist.", db, table, path)
	}
	if err != nil {
		return errInvalid("The Glue table %s.%s could not be read from %s: %v.", db, table, path, err)
	}
	cols, err := format.ColumnsFromGlue(data)
	if err != nil {
		return errInvalid("The Glue table %s.%s in %s is not a Glue table: %v.", db, table, path, err)
	}
	d.GlueColumns = cols
	return nil
}

func hints(sizeMB, intervalS *int32) (int, time.Duration) {
	return int(awsproto.Value(sizeMB)) << 20, time.Duration(awsproto.Value(intervalS)) * time.Second
}

// s3Config checks and parses an S3 bucket's configuration.
func s3Config(bucketARN, prefix, errorPrefix *string, comp *firehoseapi.CompressionFormat, tz *string, dynamic bool, member string) (s3.Config, error) {
	var cfg s3.Config
	cfg.Bucket = s3.BucketFromARN(awsproto.Value(bucketARN))
	if cfg.Bucket == "" {
		return cfg, errInvalid("%s.BucketARN %q is not an S3 bucket ARN (arn:aws:s3:::bucket).", member, awsproto.Value(bucketARN))
	}
	cfg.Compression = string(awsproto.Value(comp))
	if z := awsproto.Value(tz); z != "" {
		loc, err := time.LoadLocation(z)
		if err != nil {
			return cfg, errInvalid("%s.CustomTimeZone %q is not a time zone.", member, z)
		}
		cfg.TimeZone = loc
	}
	p, err := s3.ParsePrefix(awsproto.Value(prefix), true)
	if err != nil {
		return cfg, errInvalid("%s.Prefix is not valid: %v.", member, err)
	}
	if p.Uses("firehose", "error-output-type") {
		return cfg, errInvalid("%s.Prefix must not use !{firehose:error-output-type}: it is only allowed in ErrorOutputPrefix.", member)
	}
	fromQuery, fromLambda := p.PartitionKeys()
	if (len(fromQuery) > 0 || len(fromLambda) > 0) && !dynamic {
		return cfg, errInvalid("%s.Prefix uses partitionKeyFromQuery or partitionKeyFromLambda, which need dynamic partitioning to be enabled.", member)
	}
	cfg.Prefix = p
	if ep := awsproto.Value(errorPrefix); ep != "" {
		e, err := s3.ParsePrefix(ep, true)
		if err != nil {
			return cfg, errInvalid("%s.ErrorOutputPrefix is not valid: %v.", member, err)
		}
		if q, l := e.PartitionKeys(); len(q)+len(l) > 0 {
			return cfg, errInvalid("%s.ErrorOutputPrefix must not use partitionKeyFromQuery or partitionKeyFromLambda.", member)
		}
		if e.HasExpressions() && !e.Uses("firehose", "error-output-type") && hasUserExpressions(ep) {
			return cfg, errInvalid("%s.ErrorOutputPrefix has expressions, so it must contain !{firehose:error-output-type}.", member)
		}
		cfg.ErrorPrefix = e
	} else if hasUserExpressions(awsproto.Value(prefix)) {
		return cfg, errInvalid("%s.ErrorOutputPrefix is required when Prefix has expressions.", member)
	}
	if dynamic && awsproto.Value(errorPrefix) == "" {
		return cfg, errInvalid("%s.ErrorOutputPrefix is required when dynamic partitioning is enabled.", member)
	}
	return cfg, nil
}

func hasUserExpressions(p string) bool {
	t, err := s3.ParsePrefix(p, false)
	return err == nil && t.HasExpressions()
}

// s3Putter is the S3 writer, or one that fails every write saying why.
func (s *Service) s3Putter() s3.Putter {
	if s.opts.S3 != nil {
		return s.opts.S3
	}
	return noS3{}
}
