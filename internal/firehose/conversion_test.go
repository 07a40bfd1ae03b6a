package firehose_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/firehose"
)

func conversion(table string, ser *fhtypes.Serializer) func(*fhtypes.ExtendedS3DestinationConfiguration) {
	return func(c *fhtypes.ExtendedS3DestinationConfiguration) {
		c.DataFormatConversionConfiguration = &fhtypes.DataFormatConversionConfiguration{
			InputFormatConfiguration:  &fhtypes.InputFormatConfiguration{Deserializer: &fhtypes.Deserializer{OpenXJsonSerDe: &fhtypes.OpenXJsonSerDe{}}},
			OutputFormatConfiguration: &fhtypes.OutputFormatConfiguration{Serializer: ser},
			SchemaConfiguration:       &fhtypes.SchemaConfiguration{DatabaseName: aws.String("db"), TableName: aws.String(table)},
		}
	}
}

// TestFormatConversionConfig checks what CreateDeliveryStream and
// UpdateDestination refuse in a record format conversion, and that an
// update reads the Glue table it names.
func TestFormatConversionConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("db.events.json", `{"Table":{"Name":"events","StorageDescriptor":{"Columns":[{"Name":"id","Type":"bigint"}]}}}`)
	write("db.wide.json", `{"Table":{"Name":"wide","StorageDescriptor":{"Columns":[{"Name":"id","Type":"bigint"},{"Name":"v","Type":"string"}]}}}`)
	write("db.broken.json", `{"Table":{}}`)
	e := newEnv(t, func(o *firehose.Options) { o.GlueTables = dir })
	c := e.firehose()
	parquet := &fhtypes.Serializer{ParquetSerDe: &fhtypes.ParquetSerDe{}}
	for _, tc := range []struct {
		name string
		mod  func(*fhtypes.ExtendedS3DestinationConfiguration)
		msg  string
	}{
		{"orc", conversion("events", &fhtypes.Serializer{OrcSerDe: &fhtypes.OrcSerDe{}}), "OrcSerDe"},
		{"missing table", conversion("nope", parquet), filepath.Join(dir, "db.nope.json") + ", which does not exist"},
		{"not a table", conversion("broken", parquet), "is not a Glue table"},
		{"path in the name", conversion("../x", parquet), "cannot read as a file"},
		{"gzip", func(c *fhtypes.ExtendedS3DestinationConfiguration) {
			conversion("events", parquet)(c)
			c.CompressionFormat = fhtypes.CompressionFormatGzip
		}, "CompressionFormat must be UNCOMPRESSED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateDeliveryStream(t.Context(), &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3Dest("b", tc.mod)})
			if msg := apiError(t, err, "InvalidArgumentException"); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}

	createS3(t, c, "pq", s3Dest("b", conversion("events", parquet)))
	d := waitActive(t, c, "pq")
	if conv := d.Destinations[0].ExtendedS3DestinationDescription.DataFormatConversionConfiguration; conv == nil || !aws.ToBool(conv.Enabled) {
		t.Fatalf("conversion described as %+v", conv)
	}
	// An update naming another table reads it; one naming a missing table
	// is refused and changes nothing.
	if _, err := c.UpdateDestination(t.Context(), &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("pq"), CurrentDeliveryStreamVersionId: d.VersionId,
		DestinationId: d.Destinations[0].DestinationId, ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{
			DataFormatConversionConfiguration: &fhtypes.DataFormatConversionConfiguration{SchemaConfiguration: &fhtypes.SchemaConfiguration{DatabaseName: aws.String("db"), TableName: aws.String("gone")}}}}); err == nil ||
		!strings.Contains(apiError(t, err, "InvalidArgumentException"), "db.gone.json") {
		t.Fatalf("update to a missing table: %v", err)
	}
	if _, err := c.UpdateDestination(t.Context(), &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("pq"), CurrentDeliveryStreamVersionId: d.VersionId,
		DestinationId: d.Destinations[0].DestinationId, ExtendedS3DestinationUpdate: &fhtypes.ExtendedS3DestinationUpdate{
			DataFormatConversionConfiguration: &fhtypes.DataFormatConversionConfiguration{SchemaConfiguration: &fhtypes.SchemaConfiguration{DatabaseName: aws.String("db"), TableName: aws.String("wide")}}}}); err != nil {
		t.Fatal(err)
	}
	d = waitActive(t, c, "pq")
	if v := aws.ToString(d.VersionId); v != "2" {
		t.Fatalf("VersionId %s after one update, want 2", v)
	}
	if tn := aws.ToString(d.Destinations[0].ExtendedS3DestinationDescription.DataFormatConversionConfiguration.SchemaConfiguration.TableName); tn != "wide" {
		t.Fatalf("TableName %s after the update, want wide", tn)
	}
}
