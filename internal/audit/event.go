package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"

	"github.com/millrace/millrace/internal/awsproto"
)

// Event is one audit record, with CloudTrail's field names.
type Event struct {
	EventVersion       string         `json:"eventVersion"`
	UserIdentity       UserIdentity   `json:"userIdentity"`
	EventTime          string         `json:"eventTime"`
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	AWSRegion          string         `json:"awsRegion"`
	SourceIPAddress    string         `json:"sourceIPAddress"`
	UserAgent          string         `json:"userAgent"`
	ErrorCode          string         `json:"errorCode,omitempty"`
	ErrorMessage       string         `json:"errorMessage,omitempty"`
	RequestParameters  map[string]any `json:"requestParameters"`
	ResponseElements   map[string]any `json:"responseElements"`
	RequestID          string         `json:"requestID"`
	EventID            string         `json:"eventID"`
	ReadOnly           bool           `json:"readOnly"`
	Resources          []Resource     `json:"resources,omitempty"`
	EventType          string         `json:"eventType"`
	ManagementEvent    bool           `json:"managementEvent"`
	RecipientAccountID string         `json:"recipientAccountId"`
	EventCategory      string         `json:"eventCategory"`
	TLSDetails         *TLSDetails    `json:"tlsDetails,omitempty"`
}

// UserIdentity is CloudTrail's userIdentity element.
type UserIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	UserName    string `json:"userName,omitempty"`
	// InvokedBy is the service that made the call as a role session.
	InvokedBy string `json:"invokedBy,omitempty"`
}

// Resource is an entry of CloudTrail's resources list.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// TLSDetails is CloudTrail's tlsDetails element.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
}

// dataEvents are the operations CloudTrail records as data events, by
// signing name and operation: Kinesis's and Firehose's record operations
// and DynamoDB's item operations.
var dataEvents = map[string]bool{
	"kinesis:PutRecord": true, "kinesis:PutRecords": true, "kinesis:GetRecords": true,
	"kinesis:GetShardIterator": true, "kinesis:SubscribeToShard": true,
	"dynamodb:GetItem": true, "dynamodb:PutItem": true, "dynamodb:UpdateItem": true,
	"dynamodb:DeleteItem": true, "dynamodb:Query": true, "dynamodb:Scan": true,
	"dynamodb:TransactWriteItems": true,
	"firehose:PutRecord":          true, "firehose:PutRecordBatch": true,
}

// isDataEvent reports whether CloudTrail records a call as a data event.
func isDataEvent(info *awsproto.RequestInfo) bool {
	svc := info.Service
	if svc == "" {
		svc = "kinesis"
	}
	return dataEvents[svc+":"+info.Operation]
}

// hidden replaces values CloudTrail withholds.
const hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// redacted are the members never written as they are: Data is dropped
// altogether, the others are hidden.
var redacted = map[string]bool{"PartitionKey": true, "ShardIterator": true, "NextShardIterator": true}

// Recorder turns finished requests into events. DataEvents also records
// the data-plane operations.
type Recorder struct {
	Log        *Log
	DataEvents bool
	Now        func() time.Time
}

// Hook is the router's OnComplete callback.
func (r *Recorder) Hook(ctx context.Context, info *awsproto.RequestInfo, body []byte, out any, aerr *awsproto.Error) {
	data := isDataEvent(info)
	if data && !r.DataEvents {
		return
	}
	r.Log.Write(NewEvent(info, body, out, aerr, data, r.now()))
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// NewEvent builds the event of one request.
func NewEvent(info *awsproto.RequestInfo, body []byte, out any, aerr *awsproto.Error, data bool, now time.Time) *Event {
	svc := info.Service
	if svc == "" {
		svc = "kinesis"
	}
	ev := &Event{
		EventVersion:       "1.09",
		EventTime:          info.Received.UTC().Format(time.RFC3339),
		EventSource:        svc + ".amazonaws.com",
		EventName:          info.Operation,
		AWSRegion:          info.Region,
		SourceIPAddress:    info.SourceIP,
		UserAgent:          info.UserAgent,
		RequestID:          info.RequestID,
		EventID:            uuid.NewString(),
		ReadOnly:           readOnly(info.Operation),
		EventType:          "AwsApiCall",
		ManagementEvent:    !data,
		RecipientAccountID: info.AccountID,
		EventCategory:      "Management",
	}
	if info.Received.IsZero() {
		ev.EventTime = now.UTC().Format(time.RFC3339)
	}
	if data {
		ev.EventCategory = "Data"
	}
	if p := info.Principal; p != nil {
		ev.UserIdentity = UserIdentity{Type: p.Type, PrincipalID: p.PrincipalID, ARN: p.ARN, AccountID: p.AccountID, AccessKeyID: p.AccessKeyID, UserName: p.UserName, InvokedBy: p.InvokedBy}
		if p.InvokedBy != "" && ev.SourceIPAddress == "" {
			// CloudTrail's source of a call a service made.
			ev.SourceIPAddress = p.InvokedBy
		}
		if p.Type == "Root" {
			ev.UserIdentity.UserName = ""
		}
	} else {
		ev.UserIdentity = UserIdentity{Type: "Unknown", AccessKeyID: info.AccessKeyID}
	}
	if ev.RecipientAccountID == "" {
		ev.RecipientAccountID = ev.UserIdentity.AccountID
	}
	if aerr != nil {
		// DynamoDB's wire codes are qualified (com.amazon.coral.service#...);
		// CloudTrail records the bare code.
		ev.ErrorCode, ev.ErrorMessage = aerr.Code[strings.LastIndexByte(aerr.Code, '#')+1:], aerr.Message
	}
	ev.RequestParameters = decodeBody(info.Protocol, body)
	if out != nil && !data {
		ev.ResponseElements = toMap(out)
	}
	for _, arn := range info.Resources {
		res := Resource{ARN: arn, Type: resourceType(arn)}
		if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
			res.AccountID = parts[4]
		}
		ev.Resources = append(ev.Resources, res)
	}
	if info.HTTP != nil && info.HTTP.TLS != nil {
		ev.TLSDetails = &TLSDetails{ClientProvidedHostHeader: info.HTTP.Host}
		switch info.HTTP.TLS.Version {
		case 0x0303:
			ev.TLSDetails.TLSVersion = "TLSv1.2"
		case 0x0304:
			ev.TLSDetails.TLSVersion = "TLSv1.3"
		}
	}
	return ev
}

func readOnly(op string) bool {
	for _, p := range []string{"Describe", "List", "Get", "SubscribeToShard"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

func resourceType(arn string) string {
	switch {
	case strings.Contains(arn, ":kinesis:") && strings.Contains(arn, "/consumer/"):
		return "AWS::Kinesis::StreamConsumer"
	case strings.Contains(arn, ":kinesis:"):
		return "AWS::Kinesis::Stream"
	case strings.Contains(arn, ":dynamodb:"):
		return "AWS::DynamoDB::Table"
	case strings.Contains(arn, ":firehose:"):
		return "AWS::KinesisFirehose::DeliveryStream"
	}
	return ""
}

// decodeBody reads the request body as a generic document, without
// record data.
func decodeBody(p awsproto.Protocol, body []byte) map[string]any {
	if len(body) == 0 {
		return nil
	}
	var m map[string]any
	var err error
	if p == awsproto.ProtocolCBOR || p == awsproto.ProtocolRPCv2CBOR {
		err = cbor.Unmarshal(body, &m)
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		err = dec.Decode(&m)
	}
	if err != nil {
		return nil
	}
	return scrub(m).(map[string]any)
}

// toMap turns an output shape into a generic document, without record
// data.
func toMap(out any) map[string]any {
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&m) != nil || m == nil {
		return nil
	}
	return scrub(m).(map[string]any)
}

// scrub drops Data, hides partition keys and iterators and writes member
// names in CloudTrail's lower camel case (StreamName -> streamName).
func scrub(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			switch {
			case k == "Data":
				continue
			case redacted[k]:
				out[lowerFirst(k)] = hidden
			default:
				out[lowerFirst(k)] = scrub(x)
			}
		}
		return out
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			if s, ok := k.(string); ok {
				m[s] = x
			}
		}
		return scrub(m)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = scrub(x)
		}
		return out
	default:
		return v
	}
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
