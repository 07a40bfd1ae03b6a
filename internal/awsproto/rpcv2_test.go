package awsproto_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/cloudwatch/cloudwatchapi"
)

// rpcv2Router serves one CloudWatch-like operation that echoes its input's
// times and answers with a datapoint, or a Query-compatible error.
func rpcv2Router() *awsproto.Router {
	r := awsproto.NewRouter(awsproto.RouterOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.Register("GraniteServiceVersion20100801", "1.0", map[string]awsproto.Handler{
		"GetMetricStatistics": awsproto.Op(func(ctx context.Context, in *cloudwatchapi.GetMetricStatisticsInput) (*cloudwatchapi.GetMetricStatisticsOutput, error) {
			if *in.MetricName == "bad" {
				e := awsproto.NewError("InvalidParameterValueException", "bad metric")
				e.QueryError = "InvalidParameterValue;Sender"
				return nil, e
			}
			label := in.StartTime.UTC().Format(time.RFC3339Nano) + " " + awsproto.Info(ctx).Protocol.String()
			return &cloudwatchapi.GetMetricStatisticsOutput{Label: &label, Datapoints: []cloudwatchapi.Datapoint{{
				Timestamp: awsproto.TimestampPtr(time.Unix(1767323040, 500e6)), Sum: awsproto.Ptr(3.0),
			}}}, nil
		}),
	}, awsproto.RPCv2CBOR())
	// A service without the option is not reached by RPC v2 paths.
	r.Register("Kinesis_20131202", "1.1", map[string]awsproto.Handler{
		"DescribeLimits": awsproto.Op(func(ctx context.Context, in *struct{}) (*struct{}, error) { return &struct{}{}, nil }),
	})
	return r
}

// rpcv2Body is a GetMetricStatistics request as aws-sdk-go-v2's CloudWatch
// client writes it: indefinite-length maps, timestamps as tag 1 around a
// float64 of epoch seconds.
func rpcv2Body(metric string, start float64) []byte {
	var b bytes.Buffer
	b.WriteByte(0xbf)
	text := func(s string) {
		b.WriteByte(0x60 | byte(len(s)))
		b.WriteString(s)
	}
	text("MetricName")
	text(metric)
	text("Namespace")
	text("AWS/Kinesis")
	text("StartTime")
	b.Write([]byte{0xc1, 0xfb})
	binary.Write(&b, binary.BigEndian, math.Float64bits(start))
	text("EndTime")
	b.Write([]byte{0xc1, 0xfb})
	binary.Write(&b, binary.BigEndian, math.Float64bits(start+60))
	text("Period")
	b.Write([]byte{0x18, 60})
	b.WriteByte(0xff)
	return b.Bytes()
}

// sign adds a well-formed signature (dev mode accepts any).
func sign(req *http.Request) {
	req.Header.Set("Authorization", testAuth)
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
}

func TestRouterRPCv2CBOR(t *testing.T) {
	r := rpcv2Router()
	req := httptest.NewRequest("POST", "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics",
		bytes.NewReader(rpcv2Body("IncomingRecords", 1767323045.25)))
	req.Header.Set("Content-Type", "application/cbor")
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	sign(req)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/cbor" || w.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Fatalf("status %d, headers %v, body %x", w.Code, w.Header(), w.Body.Bytes())
	}
	var out struct {
		Label      string
		Datapoints []map[string]cbor.RawMessage
	}
	if err := cbor.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	// Seconds in, not milliseconds (the Amazon CBOR 1.1 dialect).
	if want := "2026-01-02T03:04:05.25Z rpc-v2-cbor"; out.Label != want {
		t.Errorf("Label = %q, want %q", out.Label, want)
	}
	ts := out.Datapoints[0]["Timestamp"]
	want := append([]byte{0xc1, 0xfb}, binary.BigEndian.AppendUint64(nil, math.Float64bits(1767323040.5))...)
	if !bytes.Equal(ts, want) {
		t.Errorf("Timestamp encoded as %x, want tag 1 around float64 seconds %x", []byte(ts), want)
	}
	if _, ok := out.Datapoints[0]["Average"]; ok {
		t.Error("an absent member was encoded")
	}

	// Errors: a CBOR map with __type, and the Query error code in a header.
	req = httptest.NewRequest("POST", "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics",
		bytes.NewReader(rpcv2Body("bad", 1767323045)))
	req.Header.Set("Content-Type", "application/cbor")
	sign(req)
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var e map[string]string
	if err := cbor.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 {
		t.Fatalf("status %d: %v", w.Code, err)
	}
	if e["__type"] != "InvalidParameterValueException" || e["message"] != "bad metric" ||
		w.Header().Get("X-Amzn-Query-Error") != "InvalidParameterValue;Sender" || w.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Errorf("error %v, headers %v", e, w.Header())
	}

	// The same operation by X-Amz-Target in JSON 1.0.
	req = httptest.NewRequest("POST", "/", bytes.NewReader([]byte(`{"MetricName":"m","Namespace":"n","StartTime":1767323045,"EndTime":1767323105,"Period":60}`)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "GraniteServiceVersion20100801.GetMetricStatistics")
	sign(req)
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"Timestamp":1767323040.5`)) || w.Header().Get("Smithy-Protocol") != "" {
		t.Errorf("JSON 1.0: %d %s", w.Code, w.Body.String())
	}

	// Paths that are not RPC v2, or another content type, are not routed.
	for _, c := range []struct{ path, ct string }{
		{"/service/GraniteServiceVersion20100801/operation/", "application/cbor"},
		{"/service/GraniteServiceVersion20100801/GetMetricStatistics", "application/cbor"},
		{"/service/GraniteServiceVersion20100801/operation/GetMetricStatistics", "application/json"},
		{"/service/Kinesis_20131202/operation/DescribeLimits", "application/cbor"},
	} {
		req = httptest.NewRequest("POST", c.path, bytes.NewReader(rpcv2Body("m", 1)))
		req.Header.Set("Content-Type", c.ct)
		w = httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code == 200 {
			t.Errorf("%s (%s) was served", c.path, c.ct)
		}
	}
}

func FuzzRPCv2CBORDecode(f *testing.F) {
	f.Add(rpcv2Body("IncomingRecords", 1767323045.25))
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0xa1, 0x69, 'S', 't', 'a', 'r', 't', 'T', 'i', 'm', 'e', 0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, in := range []interface{ Validate() error }{&cloudwatchapi.GetMetricStatisticsInput{}, &cloudwatchapi.GetMetricDataInput{}} {
			err := awsproto.Decode(awsproto.ProtocolRPCv2CBOR, body, in)
			if err == nil {
				err = in.Validate()
			}
			if _, ok := err.(*awsproto.Error); err != nil && !ok {
				t.Fatalf("error %v (%T) is not an *awsproto.Error", err, err)
			}
		}
	})
}
