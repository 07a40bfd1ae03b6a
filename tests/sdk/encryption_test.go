package sdk_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func randomText(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestStreamEncryption: through the SDK, records written with encryption on
// come back decrypted with EncryptionType KMS, the others without, across
// a stop and a restart; the data directory holds no plaintext of encrypted
// records; unknown keys get KMSNotFoundException.
func TestStreamEncryption(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := t.Context()
	createStream(t, c, "enc", 1)
	name := aws.String("enc")

	type rec struct{ pk, data, enc string }
	var want []rec
	var secrets []string
	put := func(encrypted bool) {
		t.Helper()
		r := rec{pk: randomText("pk-"), data: randomText("data-")}
		wantType := types.EncryptionTypeNone
		if encrypted {
			r.enc, wantType = "KMS", types.EncryptionTypeKms
			secrets = append(secrets, r.pk, r.data)
		}
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: name, PartitionKey: aws.String(r.pk), Data: []byte(r.data)})
		if err != nil || out.EncryptionType != wantType {
			t.Fatalf("PutRecord: %v, %+v", err, out)
		}
		r2 := rec{pk: randomText("pk-"), data: randomText("data-"), enc: r.enc}
		if encrypted {
			secrets = append(secrets, r2.pk, r2.data)
		}
		outs, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: name, Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String(r2.pk), Data: []byte(r2.data)}}})
		if err != nil || outs.EncryptionType != wantType || aws.ToInt32(outs.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v, %+v", err, outs)
		}
		want = append(want, r, r2)
	}
	check := func() {
		t.Helper()
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != len(want) {
			t.Fatalf("%d records, want %d", len(out.Records), len(want))
		}
		for i, r := range out.Records {
			if aws.ToString(r.PartitionKey) != want[i].pk || string(r.Data) != want[i].data || string(r.EncryptionType) != want[i].enc {
				t.Errorf("record %d: %q %q %q, want %+v", i, aws.ToString(r.PartitionKey), r.Data, r.EncryptionType, want[i])
			}
		}
	}

	put(false)
	_, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: name, EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/nope")})
	var nf *types.KMSNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("unknown alias: %v", err)
	}
	if _, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: name, EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "enc")
	d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
	if err != nil || d.StreamDescriptionSummary.EncryptionType != types.EncryptionTypeKms || aws.ToString(d.StreamDescriptionSummary.KeyId) != "alias/aws/kinesis" {
		t.Fatalf("summary: %v %+v", err, d)
	}
	put(true)
	put(true)
	if _, err := c.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{StreamName: name, EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "enc")
	ds, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: name})
	if err != nil || ds.StreamDescription.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("after stop: %v %+v", err, ds)
	}
	put(false)
	check()

	srv.Restart(t)
	c = srv.Kinesis()
	check()
	srv.Stop(t)
	filepath.WalkDir(srv.Config.DataDir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("plaintext %s of an encrypted record in %s", s, path)
			}
		}
		return nil
	})
}
