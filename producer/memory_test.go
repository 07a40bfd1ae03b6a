package producer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/millrace/millrace/producer"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestMemoryStalledHTTPEndpoint points the producer at an HTTP endpoint
// that accepts requests and never answers (ListShards included), and has
// several goroutines put 32 times the buffer limit, each record freshly
// allocated. Put blocks once the limit is reached, and the Go heap in use
// after GC grows by no more than a small multiple of the limit: the
// records held, and the PutRecords requests encoding them (base64 in
// JSON) that are in flight. The heap is measured rather than the RSS: the
// RSS of a shared test process holds whatever earlier tests left to the
// runtime, and the Go runtime returns freed memory to the OS lazily, so
// it would measure the process, not the producer.
func TestMemoryStalledHTTPEndpoint(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stalled.Close()
	defer close(release)
	client := kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(stalled.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "secret", ""),
	})

	const limit = 2 << 20
	const size = 8 << 10
	base := heapInuse()
	p, err := producer.New(client, "stalled", producer.Options{
		MaxBufferedBytes: limit, RecordTTL: time.Hour, RecordMaxBufferedTime: time.Millisecond,
		RequestTimeout: 200 * time.Millisecond, RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	const perWriter = 32 * limit / size / writers // 32 times the limit in all
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, blocked := 0, 0
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				_, err := p.Put(ctx, fmt.Sprintf("w%d-%d", w, i), make([]byte, size))
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					accepted++
				case errors.Is(err, context.DeadlineExceeded):
					blocked++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Let the requests cycle through their timeouts and retries.
	time.Sleep(500 * time.Millisecond)
	grown := int64(heapInuse()) - int64(base)
	st := p.Stats()
	t.Logf("accepted %d of %d records of %d B; heap grew by %d B (%.1f × the %d-B limit); %+v",
		accepted, accepted+blocked, size, grown, float64(grown)/limit, limit, st)
	if accepted*size > limit || st.BufferedBytes > limit {
		t.Fatalf("accepted %d records of %d B with a %d-B limit: %+v", accepted, size, limit, st)
	}
	if blocked == 0 || st.PutBlocked == 0 {
		t.Fatalf("Put never blocked: %+v", st)
	}
	if accepted == 0 {
		t.Fatal("Put accepted nothing")
	}
	if grown > 6*limit {
		t.Fatalf("heap in use grew by %d bytes, more than 6 times the %d-byte buffer limit", grown, limit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close on a stalled endpoint: %v", err)
	}
}
