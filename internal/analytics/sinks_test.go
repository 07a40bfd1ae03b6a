package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/streams"
)

// fakeSinks are a Firehose that refuses every other record of its first
// batch and a function that answers Ok, both keeping what they took.
type fakeSinks struct {
	mu         sync.Mutex
	firehose   map[string]int // record data -> times taken
	lambda     map[string]int // recordId -> times taken
	lambdaData map[string]string
	calls      int
}

func (f *fakeSinks) PutRecordBatch(ctx context.Context, arn string, records [][]byte) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	failed := make([]bool, len(records))
	for i, r := range records {
		if f.calls == 1 && i%2 == 1 {
			failed[i] = true
			continue
		}
		f.firehose[string(r)]++
	}
	return failed, nil
}

func (f *fakeSinks) Invoke(ctx context.Context, arn string, payload []byte) ([]byte, error) {
	var ev lambdaDeliveryEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var resp lambdaDeliveryResponse
	for _, r := range ev.Records {
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			return nil, err
		}
		f.lambda[r.RecordID]++
		f.lambdaData[r.RecordID] = string(data)
		resp.Records = append(resp.Records, struct {
			RecordID string `json:"recordId"`
			Result   string `json:"result"`
		}{r.RecordID, "Ok"})
	}
	return json.Marshal(resp)
}

// TestSinksAtLeastOnce crashes an application after a checkpoint holding
// window results for a delivery stream and a function, with none of them
// delivered, and checks that after the restart each window reached both
// (the delivery stream after refusing half of a batch), the function's
// records once each under the row's identity.
func TestSinksAtLeastOnce(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	c := &clock{t: base}
	s, eng := newTestStreams(t, c)
	ctx := context.Background()
	if err := s.CreateStream(ctx, streams.CreateParams{Account: "000000000000", Region: "us-east-1", Name: "in", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for i := range 80 {
		c.set(base.Add(time.Duration(i) * 37 * time.Millisecond))
		k := fmt.Sprint("key-", i%4)
		if _, _, err := s.PutRecord(ctx, ref("in"), streams.PutEntry{Data: fmt.Appendf(nil, `{"k":%q}`, k), PartitionKey: k}, ""); err != nil {
			t.Fatal(err)
		}
		ws := c.now().UnixMilli()
		want[fmt.Sprintf("%s@%d", k, ws-mod(ws, 1000))]++
	}
	c.set(base.Add(10 * time.Second))
	sql := `CREATE OR REPLACE STREAM "A" (k VARCHAR(16), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "P" AS INSERT INTO "A"
SELECT STREAM "k", UNIX_MILLIS(STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)), COUNT(*)
FROM "SOURCE_SQL_STREAM_001" GROUP BY "k", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND);
CREATE OR REPLACE STREAM "B" (k VARCHAR(16), ws BIGINT, n BIGINT);
CREATE OR REPLACE PUMP "Q" AS INSERT INTO "B" SELECT STREAM "k", "ws", "n" FROM "A";`
	app := &Application{Name: "sinks", Source: ref("in"), StartPosition: "TRIM_HORIZON",
		Config: Config{SQL: sql, Schema: Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(16)"}}}, IdleGrace: 100 * time.Millisecond},
		Outputs: []Output{
			{Name: "A", Kind: OutputFirehose, ARN: "arn:aws:firehose:us-east-1:000000000000:deliverystream/fh", Format: FormatCSV},
			{Name: "B", Kind: OutputLambda, ARN: "arn:aws:lambda:us-east-1:000000000000:function:fn", Format: FormatJSON},
		},
		CheckpointInterval: time.Hour}
	sinks := &fakeSinks{firehose: map[string]int{}, lambda: map[string]int{}, lambdaData: map[string]string{}}
	crashed := false
	rt := &Runtime{Streams: s, Catalog: eng, Now: c.now, PollInterval: time.Millisecond, DeliveryStreams: sinks, Functions: sinks,
		afterCheckpoint: func(r *appRun) error {
			if crashed {
				return nil
			}
			crashed = true
			return errCrash
		}}
	if err := app.Run(ctx, rt); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, rt) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sinks.mu.Lock()
		n, m := len(sinks.firehose), len(sinks.lambda)
		sinks.mu.Unlock()
		if n >= len(want) && m >= len(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sinks.mu.Lock()
	defer sinks.mu.Unlock()
	gotFH, gotFn := map[string]int{}, map[string]int{}
	for line := range sinks.firehose {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 3 {
			t.Fatalf("CSV record %q", line)
		}
		gotFH[f[0]+"@"+f[1]] = atoi(t, f[2])
	}
	for id, data := range sinks.lambdaData {
		if sinks.lambda[id] != 1 {
			t.Errorf("record %s delivered %d times", id, sinks.lambda[id])
		}
		var row struct {
			K  string
			WS int64
			N  int
		}
		if err := json.Unmarshal([]byte(data), &row); err != nil {
			t.Fatal(err)
		}
		gotFn[fmt.Sprintf("%s@%d", row.K, row.WS)] = row.N
	}
	if fmt.Sprint(gotFH) != fmt.Sprint(want) || fmt.Sprint(gotFn) != fmt.Sprint(want) {
		t.Fatalf("firehose %v\nfunction %v\nwant %v", gotFH, gotFn, want)
	}
	if sinks.calls < 2 {
		t.Fatalf("%d PutRecordBatch calls: the refused records were not put again", sinks.calls)
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
