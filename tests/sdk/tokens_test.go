package sdk_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Opaque values the server issues (shard iterators, NextTokens, sequence
// numbers) are accepted only exactly as issued. A value copied through a
// shell or a file often gains a line break; AWS refuses it, so this server
// does too rather than quietly reading past it.

type spelling struct{ name, s string }

// base64Spellings returns the ways a client might spell the base64 value s
// other than as it was issued. s must have padding and a '+' or '/' so that
// every spelling differs from it.
func base64Spellings(t *testing.T, s string) []spelling {
	t.Helper()
	if !strings.HasSuffix(s, "=") || !strings.ContainsAny(s, "+/") {
		t.Fatalf("%q needs padding and a '+' or '/'", s)
	}
	mid := len(s) / 2
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return []spelling{
		{"trailing LF", s + "\n"},
		{"trailing CRLF", s + "\r\n"},
		{"leading LF", "\n" + s},
		{"inner LF", s[:mid] + "\n" + s[mid:]},
		{"inner CRLF", s[:mid] + "\r\n" + s[mid:]},
		{"inner space", s[:mid] + " " + s[mid:]},
		{"trailing space", s + " "},
		{"URL-safe alphabet", urlSafe},
		{"URL-safe alphabet without padding", strings.TrimRight(urlSafe, "=")},
		{"missing padding", strings.TrimRight(s, "=")},
		{"extra padding", s + "="},
		{"a quad of padding", s + "===="},
	}
}

// issued calls get until it returns a value whose base64 has padding and a
// '+' or '/' (values are random, so a few calls suffice), so that every
// spelling of base64Spellings differs from it.
func issued(t *testing.T, what string, get func() string) string {
	t.Helper()
	for range 200 {
		s := get()
		if strings.HasSuffix(s, "=") && strings.ContainsAny(s, "+/") {
			return s
		}
	}
	t.Fatalf("no %s with padding and a '+' or '/' in 200 tries", what)
	return ""
}

func TestShardIteratorsOnlyAsIssued(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	// The name sets the iterator's length: 92 bytes, one '=' of padding.
	createStream(t, c, "tok", 1)
	seq := aws.ToString(put(t, c, "tok", "pk", []byte("one")).SequenceNumber)

	it := issued(t, "shard iterator", func() string {
		return iterator(t, c, "tok", shardID(0), types.ShardIteratorTypeTrimHorizon, nil, nil)
	})
	for _, sp := range base64Spellings(t, it) {
		_, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(sp.s)})
		if err == nil {
			t.Errorf("%s: GetRecords(%q) succeeded", sp.name, sp.s)
			continue
		}
		wantErr[*types.InvalidArgumentException](t, err)
		if msg := wantCode(t, err, "InvalidArgumentException").ErrorMessage(); msg != "Invalid ShardIterator." {
			t.Errorf("%s: message %q", sp.name, msg)
		}
	}

	// The iterator as issued still reads, and so does the one it returns.
	out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	if err != nil {
		t.Fatalf("GetRecords with the iterator as issued: %v", err)
	}
	if len(out.Records) != 1 || aws.ToString(out.Records[0].SequenceNumber) != seq {
		t.Fatalf("read %d records, want the one put", len(out.Records))
	}
	next := aws.ToString(out.NextShardIterator)
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(next + "\n")})
	wantErr[*types.InvalidArgumentException](t, err)
	wantMessage(t, err, "Invalid ShardIterator.")
	if _, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(next)}); err != nil {
		t.Errorf("GetRecords with NextShardIterator as issued: %v", err)
	}
}

func TestNextTokensOnlyAsIssued(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	// The names set the tokens' lengths so that each has padding.
	createStream(t, c, "tok", 2)
	createStream(t, c, "tok2", 1)
	registerConsumer(t, c, "tok", "con")
	registerConsumer(t, c, "tok", "con2")

	kinds := []struct {
		name string
		get  func() string                   // a page's NextToken
		use  func(token string) (int, error) // the next page's size
	}{
		{"ListShards",
			func() string {
				out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("tok"), MaxResults: aws.Int32(1)})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.NextToken)
			},
			func(tok string) (int, error) {
				out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{NextToken: aws.String(tok)})
				if err != nil {
					return 0, err
				}
				return len(out.Shards), nil
			}},
		{"ListStreams",
			func() string {
				out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{Limit: aws.Int32(1)})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.NextToken)
			},
			func(tok string) (int, error) {
				out, err := c.ListStreams(t.Context(), &kinesis.ListStreamsInput{NextToken: aws.String(tok)})
				if err != nil {
					return 0, err
				}
				return len(out.StreamNames), nil
			}},
		{"ListStreamConsumers",
			func() string {
				out, err := c.ListStreamConsumers(t.Context(), &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN("tok")), MaxResults: aws.Int32(1)})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.NextToken)
			},
			func(tok string) (int, error) {
				out, err := c.ListStreamConsumers(t.Context(), &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN("tok")), NextToken: aws.String(tok)})
				if err != nil {
					return 0, err
				}
				return len(out.Consumers), nil
			}},
	}
	for _, k := range kinds {
		tok := issued(t, k.name+" NextToken", k.get)
		for _, sp := range base64Spellings(t, tok) {
			n, err := k.use(sp.s)
			if err == nil {
				t.Errorf("%s, %s: %q accepted (%d results)", k.name, sp.name, sp.s, n)
				continue
			}
			wantErr[*types.InvalidArgumentException](t, err)
			if msg := wantCode(t, err, "InvalidArgumentException").ErrorMessage(); msg != "Invalid NextToken." {
				t.Errorf("%s, %s: message %q", k.name, sp.name, msg)
			}
		}
		if n, err := k.use(tok); err != nil || n != 1 {
			t.Errorf("%s with the token as issued: %d results, %v", k.name, n, err)
		}
	}
}

// seqSpellings returns other spellings of the decimal sequence number s, all
// outside the model's pattern 0|([1-9]\d{0,128}).
func seqSpellings(s string) []spelling {
	return []spelling{
		{"trailing LF", s + "\n"},
		{"trailing CRLF", s + "\r\n"},
		{"leading LF", "\n" + s},
		{"leading space", " " + s},
		{"trailing space", s + " "},
		{"inner space", s[:10] + " " + s[10:]},
		{"plus sign", "+" + s},
		{"leading zero", "0" + s},
		{"Arabic-Indic digit", "٤" + s[1:]},
		{"fullwidth digit", "４" + s[1:]},
		{"130 digits", "1" + strings.Repeat("0", 129)},
	}
}

func TestSequenceNumbersOnlyAsIssued(t *testing.T) {
	t.Parallel()
	_, c, _ := startEFO(t)
	createStream(t, c, "seqs", 1)
	seq := aws.ToString(put(t, c, "seqs", "pk", []byte("one")).SequenceNumber)
	arn := registerConsumer(t, c, "seqs", "con")

	const pattern = `Member must satisfy regular expression pattern: 0|([1-9]\d{0,128})`
	calls := []struct {
		member string // as AWS names it in a ValidationException
		call   func(seq string) error
	}{
		{"startingSequenceNumber", func(seq string) error {
			_, err := c.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String("seqs"), ShardId: aws.String(shardID(0)),
				ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq)})
			return err
		}},
		{"sequenceNumberForOrdering", func(seq string) error {
			_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("seqs"), PartitionKey: aws.String("pk"),
				Data: []byte("two"), SequenceNumberForOrdering: aws.String(seq)})
			return err
		}},
		{"startingPosition.sequenceNumber", func(seq string) error {
			out, err := ownClient(c).SubscribeToShard(t.Context(), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shardID(0)),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(seq)}})
			if err == nil {
				out.GetStream().Close()
			}
			return err
		}},
	}
	for _, call := range calls {
		for _, sp := range seqSpellings(seq) {
			err := call.call(sp.s)
			if err == nil {
				t.Errorf("%s, %s: %q accepted", call.member, sp.name, sp.s)
				continue
			}
			want := "1 validation error detected: Value '" + sp.s + "' at '" + call.member + "' failed to satisfy constraint: " + pattern
			if msg := wantCode(t, err, "ValidationException").ErrorMessage(); msg != want {
				t.Errorf("%s, %s: message\n got %q\nwant %q", call.member, sp.name, msg, want)
			}
		}
		// Numbers the pattern allows but this server did not issue.
		for _, s := range []string{"0", strings.Repeat("9", 129), seq[:len(seq)-1] + "3"} {
			err := call.call(s)
			if err == nil {
				t.Errorf("%s: %q accepted", call.member, s)
				continue
			}
			wantErr[*types.InvalidArgumentException](t, err)
			wantMessage(t, err, s, "is invalid")
		}
		if err := call.call(seq); err != nil {
			t.Errorf("%s with the number as issued: %v", call.member, err)
		}
	}
}
