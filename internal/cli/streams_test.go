package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestStreamsListsWhatExists(t *testing.T) {
	srv, c := startServer(t)
	if code, out, errOut := runCLI(t, nil, "streams", "--endpoint", srv.URL, "--json", "--sample", "0"); code != 0 || out != "[]\n" {
		t.Fatalf("no streams: exit %d, %q, %q", code, out, errOut)
	}
	createStream(t, c, "beta", 3)
	createStream(t, c, "alpha", 1)
	if _, err := c.IncreaseStreamRetentionPeriod(t.Context(), &kinesis.IncreaseStreamRetentionPeriodInput{
		StreamName: aws.String("alpha"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("gamma"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "gamma")
	arn := func(name string) string {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.StreamDescriptionSummary.StreamARN)
	}
	if _, err := c.RegisterStreamConsumer(t.Context(), &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String(arn("beta")), ConsumerName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, nil, "streams", "--endpoint", srv.URL, "--json", "--sample", "0")
	if code != 0 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	var got []streamInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	gammaShards := got[len(got)-1].OpenShards // on-demand: the server's choice
	want := []streamInfo{
		{Name: "alpha", ARN: arn("alpha"), Status: "ACTIVE", Mode: "PROVISIONED", OpenShards: 1, RetentionHours: 48, Encryption: "NONE"},
		{Name: "beta", ARN: arn("beta"), Status: "ACTIVE", Mode: "PROVISIONED", OpenShards: 3, RetentionHours: 24, Consumers: 1, Encryption: "NONE"},
		{Name: "gamma", ARN: arn("gamma"), Status: "ACTIVE", Mode: "ON_DEMAND", OpenShards: gammaShards, RetentionHours: 24, Encryption: "NONE"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || gammaShards < 1 {
		t.Errorf("streams\n%+v\nwant\n%+v", got, want)
	}

	code, out, _ = runCLI(t, nil, "streams", "--endpoint", srv.URL, "--sample", "0")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "STREAM STATUS MODE SHARDS RETENTION CONSUMERS ENCRYPTION" ||
		strings.Join(strings.Fields(lines[2]), " ") != "beta ACTIVE PROVISIONED 3 24h 1 NONE" {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

// The sampled rate counts the records written during the sample window,
// on every open shard; with throughput limits on, the reads it makes are
// within them.
func TestStreamsMeasuresWriteRates(t *testing.T) {
	srv, c := startServer(t, limitsOn)
	createStream(t, c, "busy", 2)
	createStream(t, c, "idle", 1)
	stop := make(chan struct{})
	written := make(chan int)
	go func() {
		n := 0
		defer func() { written <- n }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, err := c.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String("busy"),
				PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("0123456789")})
			if err == nil {
				n++
			}
		}
	}()
	code, out, errOut := runCLI(t, nil, "streams", "--endpoint", srv.URL, "--json", "--sample", "1s")
	close(stop)
	total := <-written
	if code != 0 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	var got []streamInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	busy, idle := got[0], got[1]
	if busy.RecordsPerSecond == nil || busy.BytesPerSecond == nil || idle.RecordsPerSecond == nil {
		t.Fatalf("rates missing: %s", out)
	}
	// The window is at least --sample long and saw at most every record
	// written while the command ran; at least one was written in it.
	if *busy.RecordsPerSecond <= 0 || *busy.RecordsPerSecond > float64(total) {
		t.Errorf("busy: %.1f records/s, %d written in all", *busy.RecordsPerSecond, total)
	}
	if math.Abs(*busy.BytesPerSecond-10**busy.RecordsPerSecond) > 1e-6**busy.BytesPerSecond {
		t.Errorf("busy: %.1f bytes/s for %.1f records/s of 10 bytes", *busy.BytesPerSecond, *busy.RecordsPerSecond)
	}
	if *idle.RecordsPerSecond != 0 || *idle.BytesPerSecond != 0 {
		t.Errorf("idle: %.1f records/s, %.1f bytes/s", *idle.RecordsPerSecond, *idle.BytesPerSecond)
	}
	code, out, _ = runCLI(t, nil, "streams", "--endpoint", srv.URL, "--sample", "100ms")
	if code != 0 || !strings.Contains(out, "RECORDS/S IN") || !strings.Contains(out, "BYTES/S IN") {
		t.Errorf("table with rates: exit %d\n%s", code, out)
	}
}

func TestStreamsUsageErrors(t *testing.T) {
	isolateAWSConfig(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"streams", "extra"}, `unexpected argument "extra"`},
		{[]string{"streams", "--sample", "-1s"}, "--sample -1s must not be negative"},
		{[]string{"streams", "--sample", "soon"}, `invalid value "soon" for flag -sample`},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

// Without --endpoint the tools take AWS_ENDPOINT_URL_KINESIS or
// AWS_ENDPOINT_URL, and they sign with the credentials of the environment
// when there are some (a 12-digit key id selects that account on
// Millrace).
func TestToolsUseTheAWSEnvironment(t *testing.T) {
	srv, c := startServer(t)
	createStream(t, c, "envstream", 1)
	list := func(env map[string]string) string {
		t.Helper()
		code, out, errOut := runCLI(t, env, "streams", "--sample", "0", "--json")
		if code != 0 {
			t.Fatalf("exit %d, %q", code, errOut)
		}
		var got []streamInfo
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		return strings.Join(names, ",")
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, srv.URL)
		if got := list(map[string]string{k: srv.URL}); got != "envstream" {
			t.Errorf("%s: streams %q", k, got)
		}
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "111111111111")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	if got := list(map[string]string{"AWS_ENDPOINT_URL": srv.URL}); got != "" {
		t.Errorf("account 111111111111: streams %q, want none", got)
	}
}
