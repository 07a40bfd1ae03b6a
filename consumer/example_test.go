package consumer_test

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/consumer"
)

// printer prints records and checkpoints after each batch.
type printer struct{ shard string }

func (p *printer) Initialize(ctx context.Context, in consumer.InitializationInput) {
	p.shard = in.ShardID
	log.Printf("%s: starting after %s", in.ShardID, in.Checkpoint)
}

func (p *printer) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) {
	for _, r := range in.Records {
		fmt.Printf("%s %s.%d %s: %s\n", p.shard, r.SequenceNumber, r.SubSequenceNumber, r.PartitionKey, r.Data)
	}
	if err := in.Checkpointer.Checkpoint(ctx); err != nil {
		log.Printf("%s: checkpoint: %v", p.shard, err)
	}
}

func (p *printer) LeaseLost(ctx context.Context, in consumer.LeaseLostInput) {}

func (p *printer) ShardEnded(ctx context.Context, in consumer.ShardEndedInput) {
	// Required: records SHARD_END so that the children start.
	if err := in.Checkpointer.Checkpoint(ctx); err != nil {
		log.Printf("%s: checkpoint at shard end: %v", p.shard, err)
	}
}

func (p *printer) ShutdownRequested(ctx context.Context, in consumer.ShutdownRequestedInput) {
	if err := in.Checkpointer.Checkpoint(ctx); err != nil {
		log.Printf("%s: final checkpoint: %v", p.shard, err)
	}
}

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// For Millrace: kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
	// o.BaseEndpoint = aws.String("http://127.0.0.1:4567") }), and the same
	// for DynamoDB.
	w, err := consumer.New(consumer.Config{
		ApplicationName: "my-app", // also the lease table
		Streams:         []string{"my-stream"},
		InitialPosition: consumer.StartTrimHorizon,
	}, kinesis.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), func() consumer.RecordProcessor { return &printer{} })
	if err != nil {
		log.Fatal(err)
	}
	// Runs until SIGINT or SIGTERM, then checkpoints and releases its
	// leases.
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
