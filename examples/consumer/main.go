// Command consumer runs a few consumer workers in one process on a new
// stream while records are written to it, optionally kills one and adds
// another midway, and checks that every record was processed. It prints
// the lease table at the end. It works against Millrace or AWS (Kinesis
// and DynamoDB):
//
//	millrace serve &
//	go run ./examples/consumer -endpoint http://127.0.0.1:4567 -shards 8 -workers 3 -kill
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/consumer"
	"github.com/millrace/millrace/producer"
)

// tally counts deliveries of each record across workers.
type tally struct {
	mu       sync.Mutex
	seen     []uint8
	byWorker map[string]int
}

type processor struct {
	t      *tally
	worker string
}

func (p *processor) Initialize(context.Context, consumer.InitializationInput) {}

func (p *processor) ProcessRecords(ctx context.Context, in consumer.ProcessRecordsInput) {
	p.t.mu.Lock()
	for _, r := range in.Records {
		if i, err := strconv.Atoi(string(r.Data)); err == nil && i < len(p.t.seen) {
			p.t.seen[i]++
		}
		p.t.byWorker[p.worker]++
	}
	p.t.mu.Unlock()
	_ = in.Checkpointer.Checkpoint(ctx)
}

func (p *processor) LeaseLost(context.Context, consumer.LeaseLostInput) {}

func (p *processor) ShardEnded(ctx context.Context, in consumer.ShardEndedInput) {
	if err := in.Checkpointer.Checkpoint(ctx); err != nil {
		log.Printf("checkpoint at shard end: %v", err)
	}
}

func (p *processor) ShutdownRequested(ctx context.Context, in consumer.ShutdownRequestedInput) {
	_ = in.Checkpointer.Checkpoint(ctx)
}

func live(running map[string]*consumer.Worker) []string {
	var ids []string
	for id := range running {
		ids = append(ids, id)
	}
	return ids
}

// timeBalance reports how long after a change the unfinished leases are
// spread over the live workers within one of each other.
func timeBalance(w *consumer.Worker, event string, lease time.Duration, workers []string) {
	start := time.Now()
	for time.Since(start) < 10*lease {
		leases, err := w.Leases(context.Background())
		if err == nil {
			count := map[string]int{}
			total := 0
			for _, l := range leases {
				if !l.Finished() {
					count[l.Owner]++
					total++
				}
			}
			lo, hi, sum := total, 0, 0
			for _, id := range workers {
				lo, hi, sum = min(lo, count[id]), max(hi, count[id]), sum+count[id]
			}
			if sum == total && hi-lo <= 1 {
				d := time.Since(start)
				log.Printf("balanced %v after %s (%.2f lease periods): %v", d.Round(time.Millisecond), event, d.Seconds()/lease.Seconds(), count)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Printf("not balanced within 10 lease periods after %s", event)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func main() {
	endpoint := flag.String("endpoint", "", "Kinesis and DynamoDB endpoint URL (empty: AWS)")
	region := flag.String("region", "us-east-1", "region")
	stream := flag.String("stream", fmt.Sprintf("consumer-example-%d", time.Now().Unix()), "stream to create")
	shards := flag.Int("shards", 8, "shards of the new stream")
	n := flag.Int("records", 50000, "records to write")
	workers := flag.Int("workers", 3, "workers to start")
	kill := flag.Bool("kill", false, "kill a worker (leases left to expire) and add one while writing")
	failover := flag.Duration("failover", 10*time.Second, "lease duration (FailoverTime)")
	kclTake := flag.Bool("kcl-take-interval", false, "scan for leases every 2*(failover+25ms) as the KCL does, instead of failover/5")
	rate := flag.Int("rate", 5000, "records written per second")
	verbose := flag.Bool("v", false, "log lease moves")
	flag.Parse()
	ctx := context.Background()

	kopts := kinesis.Options{Region: *region}
	dopts := dynamodb.Options{Region: *region}
	if *endpoint != "" {
		creds := credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")
		kopts.BaseEndpoint, kopts.Credentials = aws.String(*endpoint), creds
		dopts.BaseEndpoint, dopts.Credentials = aws.String(*endpoint), creds
	}
	kc, dc := kinesis.New(kopts), dynamodb.New(dopts)
	// worker-1 talks through its own connection, which -kill cuts: the
	// worker is as good as dead (it can neither renew nor read) and its
	// leases expire.
	var dead atomic.Bool
	cut := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if dead.Load() {
			return nil, fmt.Errorf("worker killed")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	kopts.HTTPClient, dopts.HTTPClient = cut, cut
	kcDead, dcDead := kinesis.New(kopts), dynamodb.New(dopts)
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: stream, ShardCount: aws.Int32(int32(*shards))}); err != nil {
		log.Fatal(err)
	}
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: stream}, 5*time.Minute); err != nil {
		log.Fatal(err)
	}

	t := &tally{seen: make([]uint8, *n), byWorker: map[string]int{}}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg := consumer.Config{
		ApplicationName: *stream + "-app",
		Streams:         []string{*stream},
		InitialPosition: consumer.StartTrimHorizon,
		FailoverTime:    *failover,
		TakeInterval:    *failover / 5,
		Logger:          logger,
	}
	if *kclTake {
		cfg.TakeInterval = 0 // the default
	}
	start := func(id string) *consumer.Worker {
		c := cfg
		c.WorkerID = id
		k, d := kc, dc
		if id == "worker-1" {
			k, d = kcDead, dcDead
		}
		w, err := consumer.New(c, k, d, func() consumer.RecordProcessor { return &processor{t: t, worker: id} })
		if err != nil {
			log.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			log.Fatal(err)
		}
		return w
	}
	running := map[string]*consumer.Worker{}
	for i := 1; i <= *workers; i++ {
		id := "worker-" + strconv.Itoa(i)
		running[id] = start(id)
	}

	p, err := producer.New(kc, *stream, producer.Options{})
	if err != nil {
		log.Fatal(err)
	}
	began := time.Now()
	for i := 0; i < *n; i++ {
		if *kill && i == *n/3 {
			dead.Store(true)
			delete(running, "worker-1")
			log.Printf("worker-1 killed after %d records written", i)
			go timeBalance(running["worker-2"], "the kill", *failover, live(running))
		}
		if *kill && i == 2**n/3 {
			id := "worker-" + strconv.Itoa(*workers+1)
			running[id] = start(id)
			log.Printf("%s added after %d records written", id, i)
			go timeBalance(running["worker-2"], "the join", *failover, live(running))
		}
		if i%100 == 0 {
			if d := time.Until(began.Add(time.Duration(i) * time.Second / time.Duration(*rate))); d > 0 {
				time.Sleep(d)
			}
		}
		if _, err := p.Put(ctx, "pk-"+strconv.Itoa(i%997), []byte(strconv.Itoa(i))); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}

	for {
		t.mu.Lock()
		missing := 0
		for _, c := range t.seen {
			if c == 0 {
				missing++
			}
		}
		t.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Since(began) > 10*time.Minute {
			log.Fatalf("%d records still missing", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(began)
	var any *consumer.Worker
	for _, w := range running {
		any = w
	}
	leases, err := any.Leases(ctx)
	if err != nil {
		log.Fatal(err)
	}
	dup := 0
	for _, c := range t.seen {
		dup += int(c) - 1
	}
	fmt.Printf("%d records written and processed in %v, 0 missing, %d redelivered; records per worker %v\n", *n, elapsed.Round(time.Millisecond), dup, t.byWorker)
	for _, l := range leases {
		fmt.Printf("  %-24s owner %-10s counter %-5d checkpoint %s\n", l.Key, l.Owner, l.Counter, l.Checkpoint)
	}
	for _, w := range running {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := w.Shutdown(sctx); err != nil {
			log.Print(err)
		}
		cancel()
	}
}
