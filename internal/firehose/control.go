package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/storage"
	"github.com/millrace/millrace/internal/streams"
)

// maxTags is the number of tags a delivery stream can have.
const maxTags = 50

func tagMap(tags []firehoseapi.Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[awsproto.Value(t.Key)] = awsproto.Value(t.Value)
	}
	return m
}

func (s *Service) createDeliveryStream(ctx context.Context, in *firehoseapi.CreateDeliveryStreamInput) (*firehoseapi.CreateDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "CreateDeliveryStream", name, tagMap(in.Tags), nil); err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	now := s.now()
	d := &deliveryStream{
		Account: account, Region: region, Name: name, ARN: streamARN(region, account, name),
		Type: string(firehoseapi.DeliveryStreamTypeDirectPut), Status: string(firehoseapi.DeliveryStreamStatusCreating),
		CreatedAt: now.UnixMilli(), UpdatedAt: now.UnixMilli(), Version: 1, DirectPut: in.DirectPutSourceConfiguration,
	}
	if in.DeliveryStreamType != nil {
		d.Type = string(*in.DeliveryStreamType)
	}
	switch firehoseapi.DeliveryStreamType(d.Type) {
	case firehoseapi.DeliveryStreamTypeDirectPut:
		if in.KinesisStreamSourceConfiguration != nil {
			return nil, errInvalid("KinesisStreamSourceConfiguration is only allowed for a delivery stream of type KinesisStreamAsSource.")
		}
	case firehoseapi.DeliveryStreamTypeKinesisStreamAsSource:
		if in.KinesisStreamSourceConfiguration == nil {
			return nil, errInvalid("KinesisStreamSourceConfiguration is required for a delivery stream of type KinesisStreamAsSource.")
		}
		if in.DirectPutSourceConfiguration != nil {
			return nil, errInvalid("DirectPutSourceConfiguration is only allowed for a delivery stream of type DirectPut.")
		}
		if in.DeliveryStreamEncryptionConfigurationInput != nil {
			return nil, errInvalid("Server-side encryption is not supported for a delivery stream of type KinesisStreamAsSource; the source stream is encrypted instead.")
		}
		src := in.KinesisStreamSourceConfiguration
		if _, err := s.sourceStream(awsproto.Value(src.KinesisStreamARN)); err != nil {
			return nil, err
		}
		d.KinesisSource = src
	default:
		return nil, errNotSupported("The delivery stream type " + d.Type)
	}
	if in.MSKSourceConfiguration != nil || in.DatabaseSourceConfiguration != nil {
		return nil, errNotSupported("An MSK or database source")
	}
	dest, err := destinationFromInput(in)
	if err != nil {
		return nil, err
	}
	d.Dest = dest
	normalize(&d.Dest)
	if err := s.readGlueTable(&d.Dest); err != nil {
		return nil, err
	}
	if err := s.check(d); err != nil {
		return nil, err
	}
	if len(in.Tags) > maxTags {
		return nil, errLimit("A delivery stream can have at most %d tags; %d were given.", maxTags, len(in.Tags))
	}
	d.Tags = in.Tags
	if e := in.DeliveryStreamEncryptionConfigurationInput; e != nil {
		enc, err := encryptionConfig(e)
		if err != nil {
			return nil, err
		}
		d.Encryption = enc
	}
	defer s.lock(d.key())()
	all, err := s.list(ctx, account, region)
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if o.Name == name {
			return nil, errInUse("Firehose stream %s under account %s already exists.", name, account)
		}
	}
	if len(all) >= s.opts.StreamLimit {
		return nil, errLimit("You have already consumed your firehose quota of %d hoses. Firehose names: %v", s.opts.StreamLimit, names(all))
	}
	if d.Log, err = s.nextLog(ctx); err != nil {
		return nil, err
	}
	if _, err := s.put(ctx, d, 0); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, errInUse("Firehose stream %s under account %s already exists.", name, account)
		}
		return nil, storageError("storing the delivery stream", err)
	}
	s.startUnit(d)
	return &firehoseapi.CreateDeliveryStreamOutput{DeliveryStreamARN: &d.ARN}, nil
}

func names(all []*deliveryStream) []string {
	out := make([]string, len(all))
	for i, d := range all {
		out[i] = d.Name
	}
	return out
}

// sourceStream checks that a KinesisStreamARN names a stream.
func (s *Service) sourceStream(arn string) (*streams.Stream, error) {
	if s.opts.Streams == nil {
		return nil, errNotSupported("A Kinesis stream source")
	}
	st, err := s.opts.Streams.Describe(streams.StreamRef{ARN: arn})
	if err != nil {
		return nil, errInvalid("The source stream %s is not a Kinesis stream that exists: %v", arn, err)
	}
	return st, nil
}

func encryptionConfig(e *firehoseapi.DeliveryStreamEncryptionConfigurationInput) (*firehoseapi.DeliveryStreamEncryptionConfiguration, error) {
	kt := awsproto.Value(e.KeyType)
	if kt == firehoseapi.KeyTypeCustomerManagedCmk && awsproto.Value(e.KeyARN) == "" {
		return nil, errInvalid("KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.")
	}
	if kt == firehoseapi.KeyTypeAwsOwnedCmk && e.KeyARN != nil {
		return nil, errInvalid("KeyARN must not be given when KeyType is AWS_OWNED_CMK.")
	}
	st := firehoseapi.DeliveryStreamEncryptionStatusEnabled
	out := &firehoseapi.DeliveryStreamEncryptionConfiguration{KeyType: &kt, Status: &st}
	if e.KeyARN != nil {
		out.KeyARN = e.KeyARN
	}
	return out, nil
}

// normalize fills the defaults DescribeDeliveryStream shows.
func normalize(d *destConfig) {
	s3Defaults := func(hints **firehoseapi.BufferingHints, comp **firehoseapi.CompressionFormat, enc **firehoseapi.EncryptionConfiguration) {
		if *hints == nil {
			*hints = &firehoseapi.BufferingHints{}
		}
		if (*hints).SizeInMBs == nil {
			(*hints).SizeInMBs = awsproto.Ptr[int32](5)
		}
		if (*hints).IntervalInSeconds == nil {
			(*hints).IntervalInSeconds = awsproto.Ptr[int32](300)
		}
		if *comp == nil {
			*comp = awsproto.Ptr(firehoseapi.CompressionFormatUncompressed)
		}
		if *enc == nil {
			*enc = &firehoseapi.EncryptionConfiguration{NoEncryptionConfig: awsproto.Ptr(firehoseapi.NoEncryptionConfigNoEncryption)}
		}
	}
	if c := d.S3; c != nil {
		s3Defaults(&c.BufferingHints, &c.CompressionFormat, &c.EncryptionConfiguration)
		if c.S3BackupMode == nil && !d.S3Only {
			c.S3BackupMode = awsproto.Ptr(firehoseapi.S3BackupModeDisabled)
		}
		if b := c.S3BackupConfiguration; b != nil {
			s3Defaults(&b.BufferingHints, &b.CompressionFormat, &b.EncryptionConfiguration)
		}
		if conv := c.DataFormatConversionConfiguration; conv != nil && conv.Enabled == nil {
			conv.Enabled = awsproto.Ptr(true)
		}
	}
	if c := d.Redshift; c != nil {
		if c.RetryOptions == nil || c.RetryOptions.DurationInSeconds == nil {
			c.RetryOptions = &firehoseapi.RedshiftRetryOptions{DurationInSeconds: awsproto.Ptr[int32](3600)}
		}
		if c.S3BackupMode == nil {
			c.S3BackupMode = awsproto.Ptr(firehoseapi.RedshiftS3BackupModeDisabled)
		}
		for _, b := range []*firehoseapi.S3DestinationConfiguration{c.S3Configuration, c.S3BackupConfiguration} {
			if b != nil {
				s3Defaults(&b.BufferingHints, &b.CompressionFormat, &b.EncryptionConfiguration)
			}
		}
	}
	if c := d.OpenSearch; c != nil {
		if c.BufferingHints == nil {
			c.BufferingHints = &firehoseapi.AmazonopensearchserviceBufferingHints{}
		}
		if c.BufferingHints.SizeInMBs == nil {
			c.BufferingHints.SizeInMBs = awsproto.Ptr[int32](5)
		}
		if c.BufferingHints.IntervalInSeconds == nil {
			c.BufferingHints.IntervalInSeconds = awsproto.Ptr[int32](300)
		}
		if c.RetryOptions == nil || c.RetryOptions.DurationInSeconds == nil {
			c.RetryOptions = &firehoseapi.AmazonopensearchserviceRetryOptions{DurationInSeconds: awsproto.Ptr[int32](300)}
		}
		if c.IndexRotationPeriod == nil {
			c.IndexRotationPeriod = awsproto.Ptr(firehoseapi.AmazonopensearchserviceIndexRotationPeriodOneDay)
		}
		if c.S3BackupMode == nil {
			c.S3BackupMode = awsproto.Ptr(firehoseapi.AmazonopensearchserviceS3BackupModeFailedDocumentsOnly)
		}
		if c.DocumentIdOptions == nil {
			c.DocumentIdOptions = &firehoseapi.DocumentIdOptions{DefaultDocumentIdFormat: awsproto.Ptr(firehoseapi.DefaultDocumentIdFormatFirehoseDefault)}
		}
		if b := c.S3Configuration; b != nil {
			s3Defaults(&b.BufferingHints, &b.CompressionFormat, &b.EncryptionConfiguration)
		}
	}
	if c := d.Splunk; c != nil {
		if c.BufferingHints == nil {
			c.BufferingHints = &firehoseapi.SplunkBufferingHints{}
		}
		if c.BufferingHints.SizeInMBs == nil {
			c.BufferingHints.SizeInMBs = awsproto.Ptr[int32](5)
		}
		if c.BufferingHints.IntervalInSeconds == nil {
			c.BufferingHints.IntervalInSeconds = awsproto.Ptr[int32](60)
		}
		if c.RetryOptions == nil || c.RetryOptions.DurationInSeconds == nil {
			c.RetryOptions = &firehoseapi.SplunkRetryOptions{DurationInSeconds: awsproto.Ptr[int32](3600)}
		}
		if c.HECAcknowledgmentTimeoutInSeconds == nil {
			c.HECAcknowledgmentTimeoutInSeconds = awsproto.Ptr[int32](180)
		}
		if c.S3BackupMode == nil {
			c.S3BackupMode = awsproto.Ptr(firehoseapi.SplunkS3BackupModeFailedEventsOnly)
		}
		if b := c.S3Configuration; b != nil {
			s3Defaults(&b.BufferingHints, &b.CompressionFormat, &b.EncryptionConfiguration)
		}
	}
	if c := d.HTTP; c != nil {
		if c.BufferingHints == nil {
			c.BufferingHints = &firehoseapi.HttpEndpointBufferingHints{}
		}
		if c.BufferingHints.SizeInMBs == nil {
			c.BufferingHints.SizeInMBs = awsproto.Ptr[int32](5)
		}
		if c.BufferingHints.IntervalInSeconds == nil {
			c.BufferingHints.IntervalInSeconds = awsproto.Ptr[int32](300)
		}
		if c.RetryOptions == nil || c.RetryOptions.DurationInSeconds == nil {
			c.RetryOptions = &firehoseapi.HttpEndpointRetryOptions{DurationInSeconds: awsproto.Ptr[int32](300)}
		}
		if c.S3BackupMode == nil {
			c.S3BackupMode = awsproto.Ptr(firehoseapi.HttpEndpointS3BackupModeFailedDataOnly)
		}
		if c.RequestConfiguration == nil {
			c.RequestConfiguration = &firehoseapi.HttpEndpointRequestConfiguration{}
		}
		if c.RequestConfiguration.ContentEncoding == nil {
			c.RequestConfiguration.ContentEncoding = awsproto.Ptr(firehoseapi.ContentEncodingNone)
		}
		if b := c.S3Configuration; b != nil {
			s3Defaults(&b.BufferingHints, &b.CompressionFormat, &b.EncryptionConfiguration)
		}
	}
}

func (s *Service) deleteDeliveryStream(ctx context.Context, in *firehoseapi.DeleteDeliveryStreamInput) (*firehoseapi.DeleteDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "DeleteDeliveryStream", name, nil, nil); err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	defer s.lock(streamKey(account, region, name))()
	d, rev, err := s.get(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	s.stopUnit(d)
	s.dropCounters(d)
	s.mu.Lock()
	delete(s.wake, d.Log)
	s.mu.Unlock()
	if err := s.cat.Delete(ctx, d.key(), rev); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, storageError("deleting the delivery stream", err)
	}
	// What is left is unreachable once the entry is gone; dropping it is
	// housekeeping.
	if err := s.log.DeleteShard(ctx, d.logKey()); err != nil {
		s.logger.Warn("dropping a deleted delivery stream's log", "stream", d.ARN, "err", err)
	}
	if _, prev, err := s.cat.Get(ctx, progressKey(d.Log)); err == nil {
		_ = s.cat.Delete(ctx, progressKey(d.Log), prev)
	}
	return &firehoseapi.DeleteDeliveryStreamOutput{}, nil
}

func (s *Service) describeDeliveryStream(ctx context.Context, in *firehoseapi.DescribeDeliveryStreamInput) (*firehoseapi.DescribeDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "DescribeDeliveryStream", name, nil, nil); err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	d, _, err := s.get(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	desc := describe(d)
	// The one destination is after any ExclusiveStartDestinationId.
	if id := awsproto.Value(in.ExclusiveStartDestinationId); id != "" && id >= destinationID {
		desc.Destinations = []firehoseapi.DestinationDescription{}
	}
	return &firehoseapi.DescribeDeliveryStreamOutput{DeliveryStreamDescription: desc}, nil
}

// convert copies the members two generated shapes share, by their JSON
// names.
func convert(src, dst any) {
	b, _ := json.Marshal(src)
	_ = json.Unmarshal(b, dst)
}

func describe(d *deliveryStream) *firehoseapi.DeliveryStreamDescription {
	status := firehoseapi.DeliveryStreamStatus(d.Status)
	typ := firehoseapi.DeliveryStreamType(d.Type)
	desc := &firehoseapi.DeliveryStreamDescription{
		DeliveryStreamName: awsproto.Ptr(d.Name), DeliveryStreamARN: awsproto.Ptr(d.ARN),
		DeliveryStreamStatus: &status, DeliveryStreamType: &typ,
		VersionId:           awsproto.Ptr(strconv.Itoa(d.Version)),
		CreateTimestamp:     awsproto.Ptr(awsproto.NewTimestamp(time.UnixMilli(d.CreatedAt))),
		HasMoreDestinations: awsproto.Ptr(false),
		FailureDescription:  d.Failure,
	}
	if d.Version > 1 {
		desc.LastUpdateTimestamp = awsproto.Ptr(awsproto.NewTimestamp(time.UnixMilli(d.UpdatedAt)))
	}
	if d.Encryption != nil {
		desc.DeliveryStreamEncryptionConfiguration = d.Encryption
	} else if d.KinesisSource == nil {
		desc.DeliveryStreamEncryptionConfiguration = &firehoseapi.DeliveryStreamEncryptionConfiguration{
			Status: awsproto.Ptr(firehoseapi.DeliveryStreamEncryptionStatusDisabled)}
	}
	switch {
	case d.KinesisSource != nil:
		desc.Source = &firehoseapi.SourceDescription{KinesisStreamSourceDescription: &firehoseapi.KinesisStreamSourceDescription{
			KinesisStreamARN: d.KinesisSource.KinesisStreamARN, RoleARN: d.KinesisSource.RoleARN,
			DeliveryStartTimestamp: awsproto.Ptr(awsproto.NewTimestamp(time.UnixMilli(d.CreatedAt))),
		}}
	case d.DirectPut != nil:
		desc.Source = &firehoseapi.SourceDescription{DirectPutSourceDescription: &firehoseapi.DirectPutSourceDescription{
			ThroughputHintInMBs: d.DirectPut.ThroughputHintInMBs}}
	}
	dd := firehoseapi.DestinationDescription{DestinationId: awsproto.Ptr(destinationID)}
	switch {
	case d.Dest.S3 != nil:
		s3d := new(firehoseapi.S3DestinationDescription)
		convert(d.Dest.S3, s3d)
		dd.S3DestinationDescription = s3d
		if !d.Dest.S3Only {
			ext := new(firehoseapi.ExtendedS3DestinationDescription)
			convert(d.Dest.S3, ext)
			if b := d.Dest.S3.S3BackupConfiguration; b != nil {
				ext.S3BackupDescription = new(firehoseapi.S3DestinationDescription)
				convert(b, ext.S3BackupDescription)
			}
			dd.ExtendedS3DestinationDescription = ext
		}
	case d.Dest.HTTP != nil:
		h := new(firehoseapi.HttpEndpointDestinationDescription)
		convert(d.Dest.HTTP, h) // the endpoint's access key is never shown
		if c := d.Dest.HTTP.S3Configuration; c != nil {
			h.S3DestinationDescription = new(firehoseapi.S3DestinationDescription)
			convert(c, h.S3DestinationDescription)
		}
		dd.HttpEndpointDestinationDescription = h
	case d.Dest.Redshift != nil:
		r := new(firehoseapi.RedshiftDestinationDescription)
		convert(d.Dest.Redshift, r) // the password is never shown
		r.S3DestinationDescription = new(firehoseapi.S3DestinationDescription)
		convert(d.Dest.Redshift.S3Configuration, r.S3DestinationDescription)
		if b := d.Dest.Redshift.S3BackupConfiguration; b != nil {
			r.S3BackupDescription = new(firehoseapi.S3DestinationDescription)
			convert(b, r.S3BackupDescription)
		}
		dd.RedshiftDestinationDescription = r
	case d.Dest.OpenSearch != nil:
		var b *firehoseapi.S3DestinationDescription
		if c := d.Dest.OpenSearch.S3Configuration; c != nil {
			b = new(firehoseapi.S3DestinationDescription)
			convert(c, b)
		}
		if d.Dest.Elasticsearch {
			e := new(firehoseapi.ElasticsearchDestinationDescription)
			convert(d.Dest.OpenSearch, e)
			e.S3DestinationDescription = b
			dd.ElasticsearchDestinationDescription = e
		} else {
			o := new(firehoseapi.AmazonopensearchserviceDestinationDescription)
			convert(d.Dest.OpenSearch, o)
			o.S3DestinationDescription = b
			dd.AmazonopensearchserviceDestinationDescription = o
		}
	case d.Dest.Splunk != nil:
		sd := new(firehoseapi.SplunkDestinationDescription)
		convert(d.Dest.Splunk, sd)
		if c := d.Dest.Splunk.S3Configuration; c != nil {
			sd.S3DestinationDescription = new(firehoseapi.S3DestinationDescription)
			convert(c, sd.S3DestinationDescription)
		}
		dd.SplunkDestinationDescription = sd
	}
	desc.Destinations = []firehoseapi.DestinationDescription{dd}
	return desc
}

func (s *Service) listDeliveryStreams(ctx context.Context, in *firehoseapi.ListDeliveryStreamsInput) (*firehoseapi.ListDeliveryStreamsOutput, error) {
	if err := authorize(ctx, "ListDeliveryStreams", "", nil, nil); err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	all, err := s.list(ctx, account, region)
	if err != nil {
		return nil, err
	}
	limit := 10
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	after := awsproto.Value(in.ExclusiveStartDeliveryStreamName)
	out := &firehoseapi.ListDeliveryStreamsOutput{DeliveryStreamNames: []string{}, HasMoreDeliveryStreams: awsproto.Ptr(false)}
	for _, d := range all {
		if in.DeliveryStreamType != nil && d.Type != string(*in.DeliveryStreamType) {
			continue
		}
		if after != "" && d.Name <= after {
			continue
		}
		if len(out.DeliveryStreamNames) == limit {
			out.HasMoreDeliveryStreams = awsproto.Ptr(true)
			break
		}
		out.DeliveryStreamNames = append(out.DeliveryStreamNames, d.Name)
	}
	return out, nil
}

// change applies fn to a stored delivery stream under its lock and
// stores the result.
func (s *Service) change(ctx context.Context, name string, fn func(d *deliveryStream) error) (*deliveryStream, error) {
	account, region := caller(ctx)
	defer s.lock(streamKey(account, region, name))()
	d, rev, err := s.get(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if err := fn(d); err != nil {
		return nil, err
	}
	if _, err := s.put(ctx, d, rev); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, errConcurrent("The delivery stream %s changed while this request ran; try again.", name)
		}
		return nil, storageError("storing the delivery stream", err)
	}
	return d, nil
}

func (s *Service) updateDestination(ctx context.Context, in *firehoseapi.UpdateDestinationInput) (*firehoseapi.UpdateDestinationOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "UpdateDestination", name, nil, nil); err != nil {
		return nil, err
	}
	d, err := s.change(ctx, name, func(d *deliveryStream) error {
		if v := awsproto.Value(in.CurrentDeliveryStreamVersionId); v != strconv.Itoa(d.Version) {
			return errConcurrent("Current version id %s does not match the version id %d of Firehose stream %s.", v, d.Version, d.ARN)
		}
		if d.Status != string(firehoseapi.DeliveryStreamStatusActive) {
			return errInUse("Firehose stream %s under account %s is not ACTIVE; its status is %s.", d.Name, d.Account, d.Status)
		}
		if id := awsproto.Value(in.DestinationId); id != destinationID {
			return errInvalid("Destination Id %s not found for Firehose stream %s.", id, d.ARN)
		}
		if err := applyUpdate(&d.Dest, in); err != nil {
			return err
		}
		normalize(&d.Dest)
		if err := s.readGlueTable(&d.Dest); err != nil {
			return err
		}
		if err := s.check(d); err != nil {
			return err
		}
		d.Version++
		d.UpdatedAt = s.now().UnixMilli()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.startUnit(d)
	return &firehoseapi.UpdateDestinationOutput{}, nil
}

// applyUpdate merges an update into the destination: the members the
// update sets replace the configuration's.
func applyUpdate(d *destConfig, in *firehoseapi.UpdateDestinationInput) error {
	n := 0
	for _, set := range []bool{in.ExtendedS3DestinationUpdate != nil, in.S3DestinationUpdate != nil, in.HttpEndpointDestinationUpdate != nil,
		in.RedshiftDestinationUpdate != nil, in.ElasticsearchDestinationUpdate != nil, in.AmazonopensearchserviceDestinationUpdate != nil,
		in.AmazonOpenSearchServerlessDestinationUpdate != nil, in.SplunkDestinationUpdate != nil, in.SnowflakeDestinationUpdate != nil,
		in.IcebergDestinationUpdate != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errInvalid("Exactly one destination update must be provided; %d were.", n)
	}
	switch {
	case in.ExtendedS3DestinationUpdate != nil && d.S3 != nil:
		u := in.ExtendedS3DestinationUpdate
		wasDynamic := d.S3.DynamicPartitioningConfiguration != nil && awsproto.Value(d.S3.DynamicPartitioningConfiguration.Enabled)
		if u.DynamicPartitioningConfiguration != nil && u.DynamicPartitioningConfiguration.Enabled != nil &&
			*u.DynamicPartitioningConfiguration.Enabled != wasDynamic {
			return errInvalid("Dynamic partitioning can only be enabled when a delivery stream is created, and never disabled.")
		}
		if wasDynamic && u.DynamicPartitioningConfiguration != nil && u.DynamicPartitioningConfiguration.Enabled == nil {
			u.DynamicPartitioningConfiguration.Enabled = awsproto.Ptr(true)
		}
		if awsproto.Value(d.S3.S3BackupMode) == firehoseapi.S3BackupModeEnabled && awsproto.Value(u.S3BackupMode) == firehoseapi.S3BackupModeDisabled {
			return errInvalid("Source record backup cannot be disabled once enabled.")
		}
		convert(u, d.S3)
		if u.S3BackupUpdate != nil {
			if d.S3.S3BackupConfiguration == nil {
				d.S3.S3BackupConfiguration = &firehoseapi.S3DestinationConfiguration{}
			}
			convert(u.S3BackupUpdate, d.S3.S3BackupConfiguration)
		}
		d.S3Only = false
	case in.S3DestinationUpdate != nil && d.S3 != nil:
		convert(in.S3DestinationUpdate, d.S3)
	case in.HttpEndpointDestinationUpdate != nil && d.HTTP != nil:
		u := in.HttpEndpointDestinationUpdate
		convert(u, d.HTTP)
		if u.S3Update != nil {
			convert(u.S3Update, d.HTTP.S3Configuration)
		}
	case in.RedshiftDestinationUpdate != nil && d.Redshift != nil:
		u := in.RedshiftDestinationUpdate
		if awsproto.Value(d.Redshift.S3BackupMode) == firehoseapi.RedshiftS3BackupModeEnabled && awsproto.Value(u.S3BackupMode) == firehoseapi.RedshiftS3BackupModeDisabled {
			return errInvalid("Source record backup cannot be disabled once enabled.")
		}
		convert(u, d.Redshift)
		if u.S3Update != nil {
			convert(u.S3Update, d.Redshift.S3Configuration)
		}
		if u.S3BackupUpdate != nil {
			if d.Redshift.S3BackupConfiguration == nil {
				d.Redshift.S3BackupConfiguration = &firehoseapi.S3DestinationConfiguration{}
			}
			convert(u.S3BackupUpdate, d.Redshift.S3BackupConfiguration)
		}
	case in.AmazonopensearchserviceDestinationUpdate != nil && d.OpenSearch != nil && !d.Elasticsearch:
		u := in.AmazonopensearchserviceDestinationUpdate
		convert(u, d.OpenSearch)
		if u.S3Update != nil {
			convert(u.S3Update, d.OpenSearch.S3Configuration)
		}
	case in.ElasticsearchDestinationUpdate != nil && d.OpenSearch != nil && d.Elasticsearch:
		u := in.ElasticsearchDestinationUpdate
		convert(u, d.OpenSearch)
		if u.S3Update != nil {
			convert(u.S3Update, d.OpenSearch.S3Configuration)
		}
	case in.SplunkDestinationUpdate != nil && d.Splunk != nil:
		u := in.SplunkDestinationUpdate
		if awsproto.Value(d.Splunk.S3BackupMode) == firehoseapi.SplunkS3BackupModeAllEvents && awsproto.Value(u.S3BackupMode) == firehoseapi.SplunkS3BackupModeFailedEventsOnly {
			return errInvalid("S3BackupMode can be changed from FailedEventsOnly to AllEvents, not back.")
		}
		convert(u, d.Splunk)
		if u.S3Update != nil {
			convert(u.S3Update, d.Splunk.S3Configuration)
		}
	default:
		return errInvalid("Changing the destination type of a delivery stream is not supported; update it with the update member of its current destination.")
	}
	return nil
}

func (s *Service) tagDeliveryStream(ctx context.Context, in *firehoseapi.TagDeliveryStreamInput) (*firehoseapi.TagDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "TagDeliveryStream", name, tagMap(in.Tags), nil); err != nil {
		return nil, err
	}
	_, err := s.change(ctx, name, func(d *deliveryStream) error {
		tags := append([]firehoseapi.Tag(nil), d.Tags...)
		for _, t := range in.Tags {
			replaced := false
			for i := range tags {
				if awsproto.Value(tags[i].Key) == awsproto.Value(t.Key) {
					tags[i] = t
					replaced = true
				}
			}
			if !replaced {
				tags = append(tags, t)
			}
		}
		if len(tags) > maxTags {
			return errLimit("A delivery stream can have at most %d tags; the request would give %s %d.", maxTags, name, len(tags))
		}
		d.Tags = tags
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &firehoseapi.TagDeliveryStreamOutput{}, nil
}

func (s *Service) untagDeliveryStream(ctx context.Context, in *firehoseapi.UntagDeliveryStreamInput) (*firehoseapi.UntagDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "UntagDeliveryStream", name, nil, in.TagKeys); err != nil {
		return nil, err
	}
	_, err := s.change(ctx, name, func(d *deliveryStream) error {
		drop := map[string]bool{}
		for _, k := range in.TagKeys {
			drop[k] = true
		}
		var tags []firehoseapi.Tag
		for _, t := range d.Tags {
			if !drop[awsproto.Value(t.Key)] {
				tags = append(tags, t)
			}
		}
		d.Tags = tags
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &firehoseapi.UntagDeliveryStreamOutput{}, nil
}

func (s *Service) listTagsForDeliveryStream(ctx context.Context, in *firehoseapi.ListTagsForDeliveryStreamInput) (*firehoseapi.ListTagsForDeliveryStreamOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "ListTagsForDeliveryStream", name, nil, nil); err != nil {
		return nil, err
	}
	account, region := caller(ctx)
	d, _, err := s.get(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	start := awsproto.Value(in.ExclusiveStartTagKey)
	out := &firehoseapi.ListTagsForDeliveryStreamOutput{Tags: []firehoseapi.Tag{}, HasMoreTags: awsproto.Ptr(false)}
	passed := start == ""
	for _, t := range d.Tags {
		if !passed {
			passed = awsproto.Value(t.Key) == start
			continue
		}
		if len(out.Tags) == limit {
			out.HasMoreTags = awsproto.Ptr(true)
			break
		}
		out.Tags = append(out.Tags, t)
	}
	return out, nil
}

func (s *Service) startEncryption(ctx context.Context, in *firehoseapi.StartDeliveryStreamEncryptionInput) (*firehoseapi.StartDeliveryStreamEncryptionOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "StartDeliveryStreamEncryption", name, nil, nil); err != nil {
		return nil, err
	}
	_, err := s.change(ctx, name, func(d *deliveryStream) error {
		if d.KinesisSource != nil {
			return errInvalid("Server-side encryption is not supported for Firehose stream %s of type KinesisStreamAsSource; encrypt the source stream instead.", d.ARN)
		}
		in := in.DeliveryStreamEncryptionConfigurationInput
		if in == nil {
			in = &firehoseapi.DeliveryStreamEncryptionConfigurationInput{KeyType: awsproto.Ptr(firehoseapi.KeyTypeAwsOwnedCmk)}
		}
		enc, err := encryptionConfig(in)
		if err != nil {
			return err
		}
		d.Encryption = enc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &firehoseapi.StartDeliveryStreamEncryptionOutput{}, nil
}

func (s *Service) stopEncryption(ctx context.Context, in *firehoseapi.StopDeliveryStreamEncryptionInput) (*firehoseapi.StopDeliveryStreamEncryptionOutput, error) {
	name := awsproto.Value(in.DeliveryStreamName)
	if err := authorize(ctx, "StopDeliveryStreamEncryption", name, nil, nil); err != nil {
		return nil, err
	}
	_, err := s.change(ctx, name, func(d *deliveryStream) error {
		if d.KinesisSource != nil {
			return errInvalid("Server-side encryption is not supported for Firehose stream %s of type KinesisStreamAsSource.", d.ARN)
		}
		d.Encryption = &firehoseapi.DeliveryStreamEncryptionConfiguration{Status: awsproto.Ptr(firehoseapi.DeliveryStreamEncryptionStatusDisabled)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &firehoseapi.StopDeliveryStreamEncryptionOutput{}, nil
}
