package firehose

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/firehose/sink"
)

type fakeInvoker struct {
	calls  int
	answer func(call int, payload []byte) ([]byte, error)
}

func (f *fakeInvoker) Invoke(_ context.Context, _ string, payload []byte) ([]byte, error) {
	f.calls++
	return f.answer(f.calls, payload)
}

func TestTransformAnswers(t *testing.T) {
	recs := []sink.Record{{ID: "a", Data: []byte("x"), Arrival: time.Unix(1, 0)}, {ID: "b", Data: []byte("y"), Arrival: time.Unix(1, 0)}}
	cases := []struct {
		name       string
		answer     func(int, []byte) ([]byte, error)
		ok, failed int
		code       string
		calls      int
	}{
		{"ok and dropped", func(int, []byte) ([]byte, error) {
			return []byte(`{"records":[{"recordId":"1","result":"Dropped"},{"recordId":"0","result":"Ok","data":"eg=="}]}`), nil
		}, 1, 0, "", 1},
		{"processing failed", func(int, []byte) ([]byte, error) {
			return []byte(`{"records":[{"recordId":"0","result":"ProcessingFailed"},{"recordId":"1","result":"Ok","data":"eg=="}]}`), nil
		}, 1, 1, "Lambda.ProcessingFailed", 1},
		{"a record missing, every try", func(int, []byte) ([]byte, error) {
			return []byte(`{"records":[{"recordId":"0","result":"Ok","data":"eg=="}]}`), nil
		}, 0, 2, "Lambda.FunctionError", 4},
		{"a recordId twice", func(int, []byte) ([]byte, error) {
			return []byte(`{"records":[{"recordId":"0","result":"Ok","data":"eg=="},{"recordId":"0","result":"Ok","data":"eg=="}]}`), nil
		}, 0, 2, "Lambda.FunctionError", 4},
		{"invocation fails, then works", func(call int, _ []byte) ([]byte, error) {
			if call < 3 {
				return nil, errors.New("boom")
			}
			return []byte(`{"records":[{"recordId":"0","result":"Ok","data":"eg=="},{"recordId":"1","result":"Ok","data":"eg=="}]}`), nil
		}, 2, 0, "", 3},
		{"invocation always fails", func(int, []byte) ([]byte, error) { return nil, errors.New("boom") }, 0, 2, "Lambda.InvokeFailed", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := &fakeInvoker{answer: tc.answer}
			tr := &transform{arn: "arn:aws:lambda:us-east-1:123456789012:function:f", retries: 3, chunk: 1 << 20}
			out, failed, err := tr.run(t.Context(), inv, recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tc.ok || len(failed) != tc.failed || inv.calls != tc.calls {
				t.Fatalf("%d ok, %d failed, %d calls; want %d, %d, %d", len(out), len(failed), inv.calls, tc.ok, tc.failed, tc.calls)
			}
			for _, f := range failed {
				if f.code != tc.code {
					t.Fatalf("code %s, want %s", f.code, tc.code)
				}
			}
			for _, o := range out {
				if string(o.rec.Data) != "z" {
					t.Fatalf("data %q, want the function's z", o.rec.Data)
				}
			}
		})
	}
}
