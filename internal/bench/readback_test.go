package bench

import (
	"context"
	"errors"
	"testing"
)

// flakyReader fails its first fail GetRecords calls, then returns an empty
// shard that is caught up.
type flakyReader struct {
	fail, calls int
}

func (f *flakyReader) putRecords(context.Context, *workerState) putOutcome { return putOutcome{} }
func (f *flakyReader) putRecord(context.Context, *workerState) putOutcome  { return putOutcome{} }
func (f *flakyReader) getRecords(_ context.Context, iterator string, _ int, _ *readScratch) ([][]byte, int64, string, int64, error) {
	f.calls++
	if f.calls <= f.fail {
		return nil, 0, "", 0, errors.New("read tcp: use of closed network connection")
	}
	return nil, 0, "", 0, nil
}

func TestReadBackRetriesFailedCalls(t *testing.T) {
	cfg := Defaults()
	for _, tc := range []struct {
		fail    int
		wantErr bool
	}{{0, false}, {2, false}, {readRetries, false}, {readRetries + 1, true}} {
		dc := &flakyReader{fail: tc.fail}
		rs, err := readBack(context.Background(), &cfg, dc, nil, 1, []string{"shardId-000000000000"}, []string{"iterator"}, &counters{})
		if (err != nil) != tc.wantErr {
			t.Fatalf("%d failures: error %v, want error %v", tc.fail, err, tc.wantErr)
		}
		if !tc.wantErr && rs.Retries != int64(tc.fail) {
			t.Fatalf("%d failures: %d retries reported", tc.fail, rs.Retries)
		}
	}
}
