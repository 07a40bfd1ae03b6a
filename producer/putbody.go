package producer

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// putRecordsBodies is the option of every PutRecords call that builds its
// JSON body in one allocation of the exact size. The SDK's serializer
// grows its buffer by appending each record's base64 data, then copies
// the whole body: for a call of 1 MiB of data, about 5 MiB allocated, most
// of the producer's garbage.
//
// The SDK still writes everything but the data: it serializes the call
// with every record's data empty, and the data is then spliced into the
// placeholders (`"Data":""`, which cannot occur inside a JSON string,
// where every quote is escaped). So field names, escaping and every other
// member stay the SDK's; only the base64 of the data is written here.
func putRecordsBodies(o *kinesis.Options) {
	if o.Protocol != nil {
		o.Protocol = putRecordsProtocol{o.Protocol, spliceMin}
	}
}

type putRecordsProtocol struct {
	smithyhttp.ClientProtocol
	min int // the data below which the SDK serializes the call
}

// spliceMin is the data below which a call is left to the SDK: the
// splice serializes the rest of the call once more, which costs more than
// the SDK's copies of little data.
const spliceMin = 64 << 10

func dataSize(pr *kinesis.PutRecordsInput) int {
	n := 0
	for _, e := range pr.Records {
		n += len(e.Data)
	}
	return n
}

// dataPlaceholder is how the SDK writes an empty data member.
var dataPlaceholder = []byte(`"Data":""`)

func (p putRecordsProtocol) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	pr, ok := in.(*kinesis.PutRecordsInput)
	if !ok || dataSize(pr) < p.min {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	body, ok := p.serialize(ctx, schema, pr, req)
	if !ok {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	sreq, err := req.SetStream(bytes.NewReader(body))
	if err != nil {
		return err
	}
	*req = *sreq
	return nil
}

// serialize returns pr's body, or false when the SDK's skeleton is not
// what it expects (the SDK then serializes the call itself).
func (p putRecordsProtocol) serialize(ctx context.Context, schema *smithy.OperationSchema, pr *kinesis.PutRecordsInput, req *smithyhttp.Request) ([]byte, bool) {
	skel := *pr
	skel.Records = make([]types.PutRecordsRequestEntry, len(pr.Records))
	size := 0
	for i, e := range pr.Records {
		if e.Data != nil {
			e.Data = []byte{}
			size += base64.StdEncoding.EncodedLen(len(pr.Records[i].Data))
		}
		skel.Records[i] = e
	}
	if err := p.ClientProtocol.SerializeRequest(ctx, schema, &skel, req); err != nil {
		return nil, false
	}
	r := req.GetStream()
	if r == nil {
		return nil, false
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		return nil, false
	}
	out := make([]byte, 0, len(rest)+size)
	for _, e := range pr.Records {
		if e.Data == nil {
			continue
		}
		i := bytes.Index(rest, dataPlaceholder)
		if i < 0 {
			return nil, false
		}
		i += len(dataPlaceholder) - 1 // before the closing quote
		out = append(out, rest[:i]...)
		out = base64.StdEncoding.AppendEncode(out, e.Data)
		rest = rest[i:]
	}
	if bytes.Contains(rest, dataPlaceholder) {
		return nil, false
	}
	return append(out, rest...), true
}
