package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsfirehose "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/millrace/millrace/internal/analytics"
	"github.com/millrace/millrace/internal/awsproto"
)

// deliveryStreamWriter puts analytics output records into Firehose
// delivery streams through the server's own Firehose API, as KDA wrote to
// Firehose: the account is the delivery stream ARN's (in dev mode a
// 12-digit access key id selects it).
type deliveryStreamWriter struct {
	endpoint string
	http     *http.Client
	clients  sync.Map // account/region -> *awsfirehose.Client
}

var _ analytics.DeliveryStreams = (*deliveryStreamWriter)(nil)

func newDeliveryStreamWriter(router http.Handler) *deliveryStreamWriter {
	return &deliveryStreamWriter{endpoint: inProcessEndpoint, http: &http.Client{Transport: awsproto.InProcess(router)}}
}

func (w *deliveryStreamWriter) PutRecordBatch(ctx context.Context, arn string, records [][]byte) ([]bool, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[2] != "firehose" || !strings.HasPrefix(parts[5], "deliverystream/") {
		return nil, fmt.Errorf("%q is not a Firehose delivery stream ARN", arn)
	}
	region, account, name := parts[3], parts[4], strings.TrimPrefix(parts[5], "deliverystream/")
	key := account + "/" + region
	c, ok := w.clients.Load(key)
	if !ok {
		c, _ = w.clients.LoadOrStore(key, awsfirehose.New(awsfirehose.Options{
			Region: region, BaseEndpoint: aws.String(w.endpoint), RetryMaxAttempts: 1, HTTPClient: w.http,
			Credentials: credentials.NewStaticCredentialsProvider(account, "analytics", ""),
		}))
	}
	recs := make([]fhtypes.Record, len(records))
	for i, r := range records {
		recs[i].Data = r
	}
	out, err := c.(*awsfirehose.Client).PutRecordBatch(ctx, &awsfirehose.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: recs})
	if err != nil {
		return nil, err
	}
	failed := make([]bool, len(records))
	for i, r := range out.RequestResponses {
		if i < len(failed) && r.ErrorCode != nil {
			failed[i] = true
		}
	}
	return failed, nil
}
