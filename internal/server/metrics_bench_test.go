package server

import (
	"context"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
)

// BenchmarkRequestMetrics is what every completed API request pays for
// millrace_requests_total and millrace_request_duration_seconds.
func BenchmarkRequestMetrics(b *testing.B) {
	m := newMonitor(nil, nil)
	hook := m.onComplete(nil)
	info := &awsproto.RequestInfo{Service: "kinesis", Operation: "PutRecords", Received: time.Now()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		hook(ctx, info, nil, nil, nil)
	}
}
