package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var invocationSeq atomic.Uint64

// Output kinds: where an output's records go.
const (
	OutputStream   = ""         // a Millrace (Kinesis) stream
	OutputFirehose = "firehose" // a Firehose delivery stream
	OutputLambda   = "lambda"   // a Lambda function, KDA's output contract
)

// DeliveryStreams puts records into Firehose delivery streams.
type DeliveryStreams interface {
	// PutRecordBatch puts records into the delivery stream arn names.
	// failed[i] is true for a record that was not taken and must be put
	// again; an error means none was taken.
	PutRecordBatch(ctx context.Context, arn string, records [][]byte) (failed []bool, err error)
}

// Functions invokes Lambda functions.
type Functions interface {
	// Invoke calls the function arn names with payload and returns its
	// response; a function error is an error.
	Invoke(ctx context.Context, functionARN string, payload []byte) ([]byte, error)
}

// Firehose takes at most 500 records and 4 MiB in one PutRecordBatch; a
// Lambda payload is at most 6 MB, and base64 makes records a third
// larger.
const (
	sinkBatchRecords  = 500
	firehoseBatchSize = 4 << 20
	lambdaBatchSize   = 4 << 20
)

// lambdaDeliveryEvent is what KDA sent a Lambda output function:
// records with a recordId and base64 data; the function answers each
// recordId with Ok or DeliveryFailed.
type lambdaDeliveryEvent struct {
	InvocationID   string                 `json:"invocationId"`
	ApplicationARN string                 `json:"applicationArn"`
	Records        []lambdaDeliveryRecord `json:"records"`
}

type lambdaDeliveryRecord struct {
	RecordID string `json:"recordId"`
	Metadata struct {
		RetryHint int `json:"retryHint"`
	} `json:"lambdaDeliveryRecordMetadata"`
	Data string `json:"data"`
}

type lambdaDeliveryResponse struct {
	Records []struct {
		RecordID string `json:"recordId"`
		Result   string `json:"result"`
	} `json:"records"`
}

// applicationARN is the ARN KDA names the application by in Lambda
// output events.
func (a *Application) applicationARN() string {
	return "arn:aws:kinesisanalytics:" + a.Source.Region + ":" + a.Source.Account + ":application/" + a.Name
}

// writeSinks delivers pending records bound for delivery streams and
// functions, retrying what failed until it is taken or ctx ends. These
// destinations cannot be read back, so after a crash a checkpoint's
// pending records are delivered again: at least once.
func (r *appRun) writeSinks(ctx context.Context, pending []pendingRecord) error {
	type dest struct{ kind, arn string }
	var order []dest
	byDest := map[dest][]pendingRecord{}
	for _, p := range pending {
		d := dest{p.Kind, p.ARN}
		if _, ok := byDest[d]; !ok {
			order = append(order, d)
		}
		byDest[d] = append(byDest[d], p)
	}
	for _, d := range order {
		left := byDest[d]
		for attempt := 0; len(left) > 0; attempt++ {
			// The role is assumed for each attempt: a failure to assume
			// it is a delivery failure, logged and retried.
			octx, err := r.outputContext(ctx)
			if err == nil {
				switch d.kind {
				case OutputFirehose:
					left, err = r.putFirehose(octx, d.arn, left)
				case OutputLambda:
					left, err = r.invokeLambda(octx, d.arn, left, attempt)
				default:
					return fmt.Errorf("output kind %q is unknown", d.kind)
				}
			}
			if err != nil {
				r.rt.Logger.Warn("analytics: output delivery failed; retrying", "application", r.app.Name, "destination", d.arn, "err", err)
			}
			if len(left) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff(attempt)):
			}
		}
	}
	return nil
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return min(d, 5*time.Second)
}

// nextBatch is the longest prefix of recs within the batch limits (at
// least one record).
func nextBatch(recs []pendingRecord, maxBytes int, size func(pendingRecord) int) int {
	n, bytes := 0, 0
	for n < len(recs) && n < sinkBatchRecords {
		b := size(recs[n])
		if n > 0 && bytes+b > maxBytes {
			break
		}
		bytes += b
		n++
	}
	return n
}

// putFirehose puts recs into a delivery stream and returns those not
// taken.
func (r *appRun) putFirehose(ctx context.Context, arn string, recs []pendingRecord) ([]pendingRecord, error) {
	if r.rt.DeliveryStreams == nil {
		return recs, fmt.Errorf("this server has no Firehose to write to %s", arn)
	}
	var left []pendingRecord
	for len(recs) > 0 {
		n := nextBatch(recs, firehoseBatchSize, func(p pendingRecord) int { return len(p.Data) })
		batch := make([][]byte, n)
		for i := range batch {
			batch[i] = recs[i].Data
		}
		failed, err := r.rt.DeliveryStreams.PutRecordBatch(ctx, arn, batch)
		if err != nil {
			return append(left, recs...), err
		}
		for i := range n {
			if i < len(failed) && failed[i] {
				left = append(left, recs[i])
			}
		}
		recs = recs[n:]
	}
	return left, nil
}

// invokeLambda sends recs to a function as KDA did and returns those the
// function did not answer Ok.
func (r *appRun) invokeLambda(ctx context.Context, arn string, recs []pendingRecord, attempt int) ([]pendingRecord, error) {
	if r.rt.Functions == nil {
		return recs, fmt.Errorf("this server has no Lambda to invoke %s", arn)
	}
	var left []pendingRecord
	for len(recs) > 0 {
		n := nextBatch(recs, lambdaBatchSize, func(p pendingRecord) int { return base64.StdEncoding.EncodedLen(len(p.Data)) + len(p.Key) + 64 })
		ev := lambdaDeliveryEvent{InvocationID: invocationID(r.rt.Now()), ApplicationARN: r.app.applicationARN(), Records: make([]lambdaDeliveryRecord, n)}
		for i := range n {
			ev.Records[i].RecordID = recs[i].Key
			ev.Records[i].Metadata.RetryHint = attempt
			ev.Records[i].Data = base64.StdEncoding.EncodeToString(recs[i].Data)
		}
		payload, err := json.Marshal(&ev)
		if err != nil {
			return append(left, recs...), err
		}
		out, err := r.rt.Functions.Invoke(ctx, arn, payload)
		if err != nil {
			return append(left, recs...), err
		}
		var resp lambdaDeliveryResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return append(left, recs...), fmt.Errorf("the function's response is not {\"records\":[{\"recordId\",\"result\"}]}: %v", err)
		}
		ok := make(map[string]bool, len(resp.Records))
		for _, x := range resp.Records {
			if x.Result == "Ok" {
				ok[x.RecordID] = true
			}
		}
		var failed int
		for i := range n {
			if !ok[recs[i].Key] {
				left = append(left, recs[i])
				failed++
			}
		}
		if failed > 0 {
			err = fmt.Errorf("the function did not answer Ok for %d of %d records", failed, n)
		}
		recs = recs[n:]
		if err != nil && len(recs) == 0 {
			return left, err
		}
	}
	return left, nil
}

// invocationID is a fresh id for a Lambda output invocation.
func invocationID(now time.Time) string {
	return strconv.FormatInt(now.UnixNano(), 36) + "-" + strconv.FormatUint(invocationSeq.Add(1), 36)
}

// ParseOutputARN tells the output kind of a destination ARN: a Kinesis
// stream, a Firehose delivery stream or a Lambda function.
func ParseOutputARN(arn string) (kind string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] == "" || parts[4] == "" {
		return "", fmt.Errorf("%q is not an ARN", arn)
	}
	switch {
	case parts[2] == "kinesis" && strings.HasPrefix(parts[5], "stream/") && len(parts[5]) > len("stream/"):
		return OutputStream, nil
	case parts[2] == "firehose" && strings.HasPrefix(parts[5], "deliverystream/") && len(parts[5]) > len("deliverystream/"):
		return OutputFirehose, nil
	case parts[2] == "lambda" && strings.HasPrefix(parts[5], "function:") && len(parts[5]) > len("function:"):
		return OutputLambda, nil
	}
	return "", fmt.Errorf("%q is not the ARN of a Kinesis stream, a Firehose delivery stream or a Lambda function", arn)
}
