package firehose

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/sink"
)

// Invoker calls a Lambda function synchronously (RequestResponse) with
// a payload and returns its answer; an error means the invocation failed
// (including a function error), and the processor retries it, unless it
// has an ErrorCode() of AccessDeniedException. With Options.Roles set,
// ctx carries the role session the invocation must be made as.
type Invoker interface {
	Invoke(ctx context.Context, functionARN string, payload []byte) ([]byte, error)
}

// transform is the Lambda processor: data transformation with Firehose's
// recordId / result / data contract.
type transform struct {
	arn     string
	retries int
	chunk   int // bytes of record data per invocation
	// interval is BufferIntervalInSeconds: with dynamic partitioning,
	// how long records read wait for more before the function is invoked
	// on them (sooner once chunk bytes are read).
	interval  time.Duration
	streamARN string
	region    string
	// roles, when set, is assumed for each invocation: role (the
	// processor's or the destination's) as the session named session.
	roles         awsproto.RoleAssumer
	role, session string
}

// Firehose's limits on the transform invocation.
const (
	defaultTransformChunk    = 1 << 20
	defaultTransformInterval = 60 * time.Second
	maxTransformPayload      = 6 << 20
	defaultTransformTries    = 3
)

type transformRequest struct {
	InvocationID      string                   `json:"invocationId"`
	DeliveryStreamArn string                   `json:"deliveryStreamArn"`
	Region            string                   `json:"region"`
	Records           []transformRequestRecord `json:"records"`
}

type transformRequestRecord struct {
	RecordID                    string `json:"recordId"`
	ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
	Data                        string `json:"data"`
}

type transformResponse struct {
	Records []struct {
		RecordID *string `json:"recordId"`
		Result   *string `json:"result"`
		Data     *string `json:"data"`
		Metadata *struct {
			PartitionKeys map[string]string `json:"partitionKeys"`
		} `json:"metadata"`
	} `json:"records"`
}

// transformed is what the function made of one record.
type transformed struct {
	rec  sink.Record
	keys map[string]string // partitionKeys from the metadata
}

// run sends records through the function in invocations of at most chunk
// bytes. Records the function drops are gone; records it fails, or whose
// invocation fails after every retry, are returned as failed.
func (t *transform) run(ctx context.Context, inv Invoker, in []sink.Record) ([]transformed, []failedRecord, error) {
	var out []transformed
	var failed []failedRecord
	for start := 0; start < len(in); {
		end, size := start, 0
		for end < len(in) && (end == start || size+len(in[end].Data) <= t.chunk) {
			size += len(in[end].Data)
			end++
		}
		o, f, err := t.invoke(ctx, inv, in[start:end])
		if err != nil {
			return nil, nil, err
		}
		out, failed = append(out, o...), append(failed, f...)
		start = end
	}
	return out, failed, nil
}

func (t *transform) invoke(ctx context.Context, inv Invoker, recs []sink.Record) ([]transformed, []failedRecord, error) {
	req := transformRequest{InvocationID: uuid.NewString(), DeliveryStreamArn: t.streamARN, Region: t.region,
		Records: make([]transformRequestRecord, len(recs))}
	// recordIds are the records' positions in the invocation, so that an
	// answer can be matched back exactly once each.
	for i, r := range recs {
		req.Records[i] = transformRequestRecord{RecordID: strconv.Itoa(i), ApproximateArrivalTimestamp: r.Arrival.UnixMilli(),
			Data: base64.StdEncoding.EncodeToString(r.Data)}
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	ictx := ctx
	if t.roles != nil {
		c, err := assumeRole(ctx, t.roles, t.role, t.session, t.streamARN)
		if err != nil {
			return nil, failAll(recs, "Lambda.AssumeRoleAccessDenied",
				fmt.Sprintf("Access was denied. Ensure that the trust policy for the provided IAM role %s allows Firehose to assume the role: %v", t.role, err)), nil
		}
		ictx = c
	}
	var lastErr error
	code := "Lambda.InvokeFailed"
	for attempt := 0; attempt <= t.retries; attempt++ {
		if payload := len(payload); payload > maxTransformPayload {
			lastErr = fmt.Errorf("the invocation payload is %d bytes, over Lambda's 6 MB", payload)
			break
		}
		answer, err := inv.Invoke(ictx, t.arn, payload)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if err != nil {
			lastErr = err
			var coded interface{ ErrorCode() string }
			if errors.As(err, &coded) && coded.ErrorCode() == awsproto.CodeAccessDenied {
				// The role's policies will not change between attempts.
				code = "Lambda.InvokeAccessDenied"
				lastErr = fmt.Errorf("Access was denied. Ensure that the access policy of role %s allows lambda:InvokeFunction on %s: %v", t.role, t.arn, err)
				break
			}
			continue
		}
		out, failed, err := t.parse(recs, answer)
		if err == nil {
			return out, failed, nil
		}
		lastErr, code = err, "Lambda.FunctionError"
	}
	return nil, failAll(recs, code, lastErr.Error()), nil
}

// failAll fails every record of an invocation with one error.
func failAll(recs []sink.Record, code, message string) []failedRecord {
	failed := make([]failedRecord, len(recs))
	for i, r := range recs {
		failed[i] = failedRecord{Record: r, code: code, message: message}
	}
	return failed
}

// parse checks an answer: every recordId exactly once, a known result,
// data for Ok.
func (t *transform) parse(recs []sink.Record, answer []byte) ([]transformed, []failedRecord, error) {
	var resp transformResponse
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, nil, fmt.Errorf("the function's answer is not the transformation response JSON: %v", err)
	}
	if len(resp.Records) != len(recs) {
		return nil, nil, fmt.Errorf("the function answered %d records for %d", len(resp.Records), len(recs))
	}
	seen := make([]bool, len(recs))
	var out []transformed
	var failed []failedRecord
	for _, r := range resp.Records {
		if r.RecordID == nil || r.Result == nil {
			return nil, nil, errors.New("a record of the answer has no recordId or no result")
		}
		i, err := strconv.Atoi(*r.RecordID)
		if err != nil || i < 0 || i >= len(recs) || seen[i] {
			return nil, nil, fmt.Errorf("the answer's recordId %q is not one of the invocation's, or appears twice", *r.RecordID)
		}
		seen[i] = true
		switch *r.Result {
		case "Ok":
			if r.Data == nil {
				return nil, nil, fmt.Errorf("the record %q is Ok but has no data", *r.RecordID)
			}
			data, err := base64.StdEncoding.DecodeString(*r.Data)
			if err != nil {
				return nil, nil, fmt.Errorf("the data of record %q is not base64", *r.RecordID)
			}
			rec := recs[i]
			rec.Data = data
			tr := transformed{rec: rec}
			if r.Metadata != nil {
				tr.keys = r.Metadata.PartitionKeys
			}
			out = append(out, tr)
		case "Dropped":
		case "ProcessingFailed":
			failed = append(failed, failedRecord{Record: recs[i], code: "Lambda.ProcessingFailed", message: "The function marked the record ProcessingFailed."})
		default:
			return nil, nil, fmt.Errorf("the record %q has the result %q, not Ok, Dropped or ProcessingFailed", *r.RecordID, *r.Result)
		}
	}
	return out, failed, nil
}
