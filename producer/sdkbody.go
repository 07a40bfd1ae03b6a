package producer

import (
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/sdkhttp"
)

// plainRequestBodies is the option of every PutRecords call: over
// HTTP/1.1, aws-sdk-go-v2 could otherwise put the records of a call again
// after the stream had taken them (see sdkhttp).
func plainRequestBodies(o *kinesis.Options) { o.HTTPClient = sdkhttp.PlainBodies(o.HTTPClient) }
