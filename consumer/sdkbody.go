package consumer

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/internal/sdkhttp"
)

// plainDynamoDB and plainKinesis are the options of the worker's writes
// (the lease table's conditional writes, its creation,
// RegisterStreamConsumer) and of SubscribeToShard. Over HTTP/1.1,
// aws-sdk-go-v2 could otherwise send a write again that the server had
// applied (see sdkhttp): a renewal, take or checkpoint sent again fails
// its own condition, and the worker would drop a lease it holds. An open
// SubscribeToShard stream would lose its connection instead.
func plainDynamoDB(o *dynamodb.Options) { o.HTTPClient = sdkhttp.PlainBodies(o.HTTPClient) }

func plainKinesis(o *kinesis.Options) { o.HTTPClient = sdkhttp.PlainBodies(o.HTTPClient) }
