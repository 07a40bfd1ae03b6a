package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/sdkhttp"
)

// Phases of a scale run. The server is stopped and started again between
// them (by the caller), so that the read phase measures a restarted server.
const (
	PhaseWrite = "write" // create the streams, write every shard
	PhaseRead  = "read"  // wait until every stream is served, read every shard back
)

// ScaleConfig is one phase of a scale run: Streams streams of Shards
// shards each, named Prefix-0, Prefix-1, ..., with Records records of Size
// bytes on every shard.
type ScaleConfig struct {
	Endpoint                     string
	Region                       string
	AccessKeyID, SecretAccessKey string

	Phase   string
	Prefix  string
	Streams int
	Shards  int // per stream
	Records int // per shard
	Size    int // bytes per record
	Workers int
	Batch   int // records per PutRecords call (1-500)

	// PID, when not 0, is the local server process whose memory is read
	// from /proc.
	PID int
	// Since is when the server process was started (read phase): the time
	// until every stream is served is measured from it. Zero: from the
	// start of the phase.
	Since time.Time
	// ServeTimeout bounds the wait for every stream to be served.
	ServeTimeout time.Duration

	// Progress receives a line per step and, during long steps, every 5
	// seconds; nil for none.
	Progress io.Writer
}

// ScaleDefaults returns a scale configuration with every setting at its
// default: 1,000 streams of 4 shards, 10 records of 1 KiB a shard, 8
// workers.
func ScaleDefaults() ScaleConfig {
	d := Defaults()
	return ScaleConfig{
		Endpoint: d.Endpoint, Region: d.Region, AccessKeyID: d.AccessKeyID, SecretAccessKey: d.SecretAccessKey,
		Phase: PhaseWrite, Prefix: "millrace-scale", Streams: 1000, Shards: 4, Records: 10, Size: 1024,
		Workers: 8, Batch: 500, ServeTimeout: 5 * time.Minute,
	}
}

// minScaleRecordSize holds a record's header: stream, shard and record
// numbers.
const minScaleRecordSize = 12

// Validate checks the configuration.
func (c *ScaleConfig) Validate() error {
	switch {
	case c.Endpoint == "":
		return errors.New("endpoint: must be set")
	case c.Phase != PhaseWrite && c.Phase != PhaseRead:
		return fmt.Errorf("phase: %q must be write or read", c.Phase)
	case c.Prefix == "":
		return errors.New("prefix: must be set")
	case c.Streams < 1 || c.Streams > 100000:
		return fmt.Errorf("streams: %d must be between 1 and 100000", c.Streams)
	case c.Shards < 1 || c.Shards > 100000:
		return fmt.Errorf("shards: %d must be between 1 and 100000", c.Shards)
	case c.Records < 1 || c.Records > 1000000:
		return fmt.Errorf("records: %d must be between 1 and 1000000", c.Records)
	case c.Size < minScaleRecordSize || c.Size > 1<<20:
		return fmt.Errorf("size: %d must be between %d and 1048576 bytes", c.Size, minScaleRecordSize)
	case c.Workers < 1 || c.Workers > 4096:
		return fmt.Errorf("workers: %d must be between 1 and 4096", c.Workers)
	case c.Batch < 1 || c.Batch > 500:
		return fmt.Errorf("batch: %d must be between 1 and 500", c.Batch)
	case c.ServeTimeout <= 0:
		return errors.New("serve-timeout: must be positive")
	}
	return nil
}

// ScaleResult is what one phase measured. Its JSON form is the output of
// millrace bench scale.
type ScaleResult struct {
	Phase   string `json:"phase"`
	Streams int    `json:"streams"`
	Shards  int    `json:"shards_per_stream"`
	Records int    `json:"records_per_shard"`
	Size    int    `json:"size"`
	Workers int    `json:"workers"`

	// Write phase: creating every stream until all are ACTIVE, listing
	// their shards, and writing every shard.
	CreateSeconds float64 `json:"create_seconds,omitempty"`
	ListSeconds   float64 `json:"list_seconds,omitempty"`
	WriteSeconds  float64 `json:"write_seconds,omitempty"`
	Written       int64   `json:"written,omitempty"`
	FailedWrites  int64   `json:"failed_writes,omitempty"`

	// Read phase: from Since until DescribeStreamSummary has answered for
	// every stream, the server's memory then, and the read-back.
	ServedSeconds float64 `json:"served_seconds,omitempty"`
	// ServedCPUSeconds is the server's CPU time from its start until every
	// stream was served (with PID): steadier than ServedSeconds on a busy
	// machine.
	ServedCPUSeconds float64    `json:"served_cpu_seconds,omitempty"`
	AfterRestart     *ProcMem   `json:"after_restart,omitempty"`
	ReadSeconds      float64    `json:"read_seconds,omitempty"`
	Read             *ScaleRead `json:"read,omitempty"`
	ReadPeakRSSMiB   float64    `json:"read_peak_rss_mib,omitempty"`
	// ReadPeakRSSAnonMiB is the highest RssAnon of the same samples: VmRSS
	// also counts the executable's resident pages, which vary with the
	// page cache.
	ReadPeakRSSAnonMiB float64 `json:"read_peak_rss_anon_mib,omitempty"`
	ReadCPUSeconds     float64 `json:"read_cpu_seconds,omitempty"`
	WriteCPUSeconds    float64 `json:"write_cpu_seconds,omitempty"`

	// Server is the server's memory at the end of the phase.
	Server *ProcMem `json:"server,omitempty"`
	// Errors counts failed calls and records by error code (throttles
	// included); a run with any is reported as failed.
	Errors map[string]int64 `json:"errors"`
}

// ScaleRead is the read-back's verification.
type ScaleRead struct {
	Shards     int64 `json:"shards"`
	Calls      int64 `json:"calls"` // successful GetRecords calls
	Records    int64 `json:"records"`
	Verified   int64 `json:"verified"`
	Missing    int64 `json:"missing"`
	Duplicates int64 `json:"duplicates"`
	// Corrupt counts records whose data is not what was written to that
	// shard at that position (another shard's record included).
	Corrupt int64 `json:"corrupt"`
	Retries int64 `json:"retries"`
}

// ProcMem is a process's memory from /proc/PID/status, in MiB.
type ProcMem struct {
	RSSMiB     float64 `json:"rss_mib"`
	RSSAnonMiB float64 `json:"rss_anon_mib"`
	HWMMiB     float64 `json:"hwm_mib"`
}

// ReadProcMem reads VmRSS, RssAnon and VmHWM of a process.
func ReadProcMem(pid int) (*ProcMem, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := &ProcMem{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *float64
		switch k {
		case "VmRSS":
			dst = &m.RSSMiB
		case "RssAnon":
			dst = &m.RSSAnonMiB
		case "VmHWM":
			dst = &m.HWMMiB
		default:
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = kb / 1024
	}
	return m, sc.Err()
}

// memSampler samples a process's VmRSS and RssAnon every 100 ms and keeps
// the highest of each.
type memSampler struct {
	pid   int
	mu    sync.Mutex
	peak  ProcMem
	stopc chan struct{}
	done  chan struct{}
}

func startMemSampler(pid int, first *ProcMem) *memSampler {
	s := &memSampler{pid: pid, peak: *first, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *memSampler) sample() {
	if m, err := ReadProcMem(s.pid); err == nil {
		s.mu.Lock()
		s.peak.RSSMiB = max(s.peak.RSSMiB, m.RSSMiB)
		s.peak.RSSAnonMiB = max(s.peak.RSSAnonMiB, m.RSSAnonMiB)
		s.peak.HWMMiB = max(s.peak.HWMMiB, m.HWMMiB)
		s.mu.Unlock()
	}
}

// stop takes a last sample and returns the peaks.
func (s *memSampler) stop() ProcMem {
	close(s.stopc)
	<-s.done
	s.sample()
	return s.peak
}

// scaleShard is one shard of a scale run.
type scaleShard struct {
	stream, shard int // numbers: the stream's in the run, the shard's in its stream
	streamName    string
	id            string
	hashKey       string // the shard's starting hash key
}

// streamName is the name of stream i of the run.
func (c *ScaleConfig) streamName(i int) string { return c.Prefix + "-" + strconv.Itoa(i) }

// fillScaleRecord writes record seq of a shard into b: its stream, shard
// and record numbers, then bytes that depend on all three, so that a
// record read from the wrong shard or place does not pass.
func fillScaleRecord(b []byte, stream, shard, seq int) {
	binary.BigEndian.PutUint32(b[0:], uint32(stream))
	binary.BigEndian.PutUint32(b[4:], uint32(shard))
	binary.BigEndian.PutUint32(b[8:], uint32(seq))
	x := uint32(stream)*2654435761 ^ uint32(shard)*40503 ^ uint32(seq)*97
	for i := 12; i < len(b); i++ {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
}

// RunScale runs one phase. The result is returned also with an error when
// the phase ran but something failed (a failed call, a missing record).
func RunScale(ctx context.Context, cfg ScaleConfig) (*ScaleResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := httpClient(cfg.Workers)
	conns := &connTracker{conns: map[net.Conn]struct{}{}}
	hc.Transport.(*http.Transport).DialContext = conns.dial
	sdk := kinesis.New(kinesis.Options{
		BaseEndpoint:     aws.String(cfg.Endpoint),
		Region:           cfg.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		// Plain bodies: without them the SDK may have a connection closed
		// under a response (seen on a ListShards of 10,000 shards) and send
		// a call again (see sdkhttp).
		HTTPClient: sdkhttp.PlainBodies(hc),
	})
	// A connection dialed for a call that another, freed, connection took
	// over stays open unused, in the state net/http's graceful shutdown
	// waits 5 seconds for, and it may be dialed after the last call: close
	// every connection at the end, so that a stop after the phase does not
	// wait.
	defer conns.closeAll()
	res := &ScaleResult{Phase: cfg.Phase, Streams: cfg.Streams, Shards: cfg.Shards, Records: cfg.Records,
		Size: cfg.Size, Workers: cfg.Workers, Errors: map[string]int64{}}
	e := &errorTally{m: res.Errors}
	var err error
	if cfg.Phase == PhaseWrite {
		err = scaleWrite(ctx, &cfg, sdk, res, e)
	} else {
		err = scaleRead(ctx, &cfg, sdk, res, e)
	}
	if cfg.PID != 0 {
		if m, perr := ReadProcMem(cfg.PID); perr == nil {
			res.Server = m
		} else if err == nil {
			err = perr
		}
	}
	if err == nil && len(res.Errors) > 0 {
		err = fmt.Errorf("%s phase: calls or records failed: %v", cfg.Phase, res.Errors)
	}
	return res, err
}

// connTracker dials the client's connections and closes them all at the
// end of a phase, dials still in flight included.
type connTracker struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (t *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, errors.New("the phase has ended")
	}
	t.conns[c] = struct{}{}
	return c, nil
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
}

// errorTally counts errors by code from several goroutines.
type errorTally struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errorTally) add(code string, n int64) {
	e.mu.Lock()
	e.m[code] += n
	e.mu.Unlock()
}

// logf writes a progress line.
func (c *ScaleConfig) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "scale %s: "+format+"\n", append([]any{c.Phase}, args...)...)
	}
}

// parallel runs fn(i) for i in [0, n) on the configured workers, reporting
// progress every 5 seconds, and returns the first error (the others run
// on).
func (c *ScaleConfig) parallel(ctx context.Context, what string, n int, fn func(ctx context.Context, i int) error) error {
	var next, done atomic.Int64
	var first error
	var once sync.Once
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.logf("%s: %d of %d", what, done.Load(), n)
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(c.Workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err })
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func scaleWrite(ctx context.Context, cfg *ScaleConfig, sdk *kinesis.Client, res *ScaleResult, e *errorTally) error {
	var cpu0 float64
	if cfg.PID != 0 {
		var err error
		if cpu0, err = procCPU(cfg.PID); err != nil {
			return fmt.Errorf("pid %d: %w", cfg.PID, err)
		}
	}
	cfg.logf("creating %d streams of %d shards", cfg.Streams, cfg.Shards)
	start := time.Now()
	err := cfg.parallel(ctx, "created", cfg.Streams, func(ctx context.Context, i int) error {
		_, err := sdk.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(cfg.streamName(i)), ShardCount: aws.Int32(int32(cfg.Shards))})
		if err != nil {
			e.add(errorCode(err), 1)
			return fmt.Errorf("CreateStream %s: %w", cfg.streamName(i), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := cfg.parallel(ctx, "active", cfg.Streams, func(ctx context.Context, i int) error {
		return waitActive(ctx, sdk, cfg.streamName(i), e)
	}); err != nil {
		return err
	}
	res.CreateSeconds = time.Since(start).Seconds()
	cfg.logf("created in %.2f s", res.CreateSeconds)

	start = time.Now()
	shards, err := scaleShards(ctx, cfg, sdk, e)
	if err != nil {
		return err
	}
	res.ListSeconds = time.Since(start).Seconds()

	// Calls of up to Batch records, each to one stream: a stream's records
	// shard by shard, record by record, cut into batches.
	type call struct {
		stream     string
		first, end int // records [first, end) of the stream
		shards     []scaleShard
	}
	var calls []call
	for s := 0; s < len(shards); {
		e := s
		for e < len(shards) && shards[e].stream == shards[s].stream {
			e++
		}
		total := (e - s) * cfg.Records
		for f := 0; f < total; f += cfg.Batch {
			calls = append(calls, call{stream: shards[s].streamName, first: f, end: min(f+cfg.Batch, total), shards: shards[s:e]})
		}
		s = e
	}
	cfg.logf("writing %d records of %d bytes to %d shards in %d calls", len(shards)*cfg.Records, cfg.Size, len(shards), len(calls))
	var written, failed atomic.Int64
	start = time.Now()
	err = cfg.parallel(ctx, "calls", len(calls), func(ctx context.Context, i int) error {
		c := calls[i]
		entries := make([]types.PutRecordsRequestEntry, 0, c.end-c.first)
		buf := make([]byte, (c.end-c.first)*cfg.Size)
		for r := c.first; r < c.end; r++ {
			sh := &c.shards[r/cfg.Records]
			b := buf[(r-c.first)*cfg.Size:][:cfg.Size]
			fillScaleRecord(b, sh.stream, sh.shard, r%cfg.Records)
			entries = append(entries, types.PutRecordsRequestEntry{Data: b, PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(sh.hashKey)})
		}
		out, err := sdk.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(c.stream), Records: entries})
		if err != nil {
			e.add(errorCode(err), int64(len(entries)))
			failed.Add(int64(len(entries)))
			return fmt.Errorf("PutRecords %s: %w", c.stream, err)
		}
		if len(out.Records) != len(entries) {
			failed.Add(int64(len(entries)))
			return fmt.Errorf("PutRecords %s answered %d results for %d records", c.stream, len(out.Records), len(entries))
		}
		for j, r := range out.Records {
			sh := &c.shards[(c.first+j)/cfg.Records]
			switch {
			case r.ErrorCode != nil:
				e.add(aws.ToString(r.ErrorCode), 1)
				failed.Add(1)
			case aws.ToString(r.ShardId) != sh.id:
				e.add("WrongShard", 1)
				failed.Add(1)
			default:
				written.Add(1)
			}
		}
		return nil
	})
	res.WriteSeconds = time.Since(start).Seconds()
	res.Written, res.FailedWrites = written.Load(), failed.Load()
	if cfg.PID != 0 {
		if cpu, err := procCPU(cfg.PID); err == nil {
			res.WriteCPUSeconds = cpu - cpu0
		}
	}
	cfg.logf("wrote %d records in %.2f s (%d failed)", res.Written, res.WriteSeconds, res.FailedWrites)
	return err
}

// waitActive waits until a stream is ACTIVE.
func waitActive(ctx context.Context, sdk *kinesis.Client, name string, e *errorTally) error {
	for {
		out, err := sdk.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			e.add(errorCode(err), 1)
			return fmt.Errorf("DescribeStreamSummary %s: %w", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// scaleShards lists every stream's shards with ListShards, in the run's
// order: stream by stream, each stream's shards in the order ListShards
// gives them (by shard id).
func scaleShards(ctx context.Context, cfg *ScaleConfig, sdk *kinesis.Client, e *errorTally) ([]scaleShard, error) {
	per := make([][]scaleShard, cfg.Streams)
	err := cfg.parallel(ctx, "listed", cfg.Streams, func(ctx context.Context, i int) error {
		name := cfg.streamName(i)
		in := &kinesis.ListShardsInput{StreamName: aws.String(name), MaxResults: aws.Int32(10000)}
		for {
			out, err := sdk.ListShards(ctx, in)
			if err != nil {
				e.add(errorCode(err), 1)
				return fmt.Errorf("ListShards %s: %w", name, err)
			}
			for _, s := range out.Shards {
				if s.HashKeyRange == nil {
					return fmt.Errorf("ListShards %s: shard %s without a hash key range", name, aws.ToString(s.ShardId))
				}
				per[i] = append(per[i], scaleShard{stream: i, shard: len(per[i]), streamName: name,
					id: aws.ToString(s.ShardId), hashKey: aws.ToString(s.HashKeyRange.StartingHashKey)})
			}
			if out.NextToken == nil {
				break
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(10000)}
		}
		if len(per[i]) != cfg.Shards {
			return fmt.Errorf("stream %s has %d shards, want %d", name, len(per[i]), cfg.Shards)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(per...), nil
}

func scaleRead(ctx context.Context, cfg *ScaleConfig, sdk *kinesis.Client, res *ScaleResult, e *errorTally) error {
	since := cfg.Since
	if since.IsZero() {
		since = time.Now()
	}
	// Until the server listens, calls fail to connect: they are retried
	// (not counted) until ServeTimeout; any answer but success is an
	// error.
	cfg.logf("waiting until %d streams are served", cfg.Streams)
	sctx, cancel := context.WithDeadline(ctx, since.Add(cfg.ServeTimeout))
	err := cfg.parallel(sctx, "served", cfg.Streams, func(ctx context.Context, i int) error {
		name := cfg.streamName(i)
		for {
			out, err := sdk.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			if err == nil {
				if s := out.StreamDescriptionSummary.StreamStatus; s != types.StreamStatusActive {
					e.add("NotActive", 1)
					return fmt.Errorf("stream %s is %s after the restart", name, s)
				}
				return nil
			}
			if code := errorCode(err); code != "NetworkError" || ctx.Err() != nil {
				e.add(code, 1)
				return fmt.Errorf("DescribeStreamSummary %s: %w", name, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	cancel()
	if err != nil {
		return err
	}
	res.ServedSeconds = time.Since(since).Seconds()
	var cpu0 float64
	var proc *memSampler
	if cfg.PID != 0 {
		m, err := ReadProcMem(cfg.PID)
		if err != nil {
			return fmt.Errorf("pid %d: %w", cfg.PID, err)
		}
		res.AfterRestart = m
		if cpu0, err = procCPU(cfg.PID); err != nil {
			return fmt.Errorf("pid %d: %w", cfg.PID, err)
		}
		res.ServedCPUSeconds = cpu0
		proc = startMemSampler(cfg.PID, m)
	}
	cfg.logf("every stream served %.0f ms after the start", res.ServedSeconds*1e3)

	shards, err := scaleShards(ctx, cfg, sdk, e)
	if err != nil {
		if proc != nil {
			proc.stop()
		}
		return err
	}
	var rd ScaleRead
	var calls, records, verified, missing, dups, corrupt, retries atomic.Int64
	cfg.logf("reading %d shards", len(shards))
	start := time.Now()
	err = cfg.parallel(ctx, "shards read", len(shards), func(ctx context.Context, i int) error {
		sh := &shards[i]
		it, err := sdk.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(sh.streamName),
			ShardId: aws.String(sh.id), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			e.add(errorCode(err), 1)
			missing.Add(int64(cfg.Records))
			return fmt.Errorf("GetShardIterator %s %s: %w", sh.streamName, sh.id, err)
		}
		iter := it.ShardIterator
		seen := make([]bool, cfg.Records)
		want := make([]byte, cfg.Size)
		n, empty, failures := 0, 0, 0
		for iter != nil && n < cfg.Records && empty < 3 {
			out, err := sdk.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				// A throttle or a dropped connection: the same iterator
				// reads the same records again; counted, retried a few
				// times in a row at most.
				e.add(errorCode(err), 1)
				failures++
				if failures > readRetries || ctx.Err() != nil {
					missing.Add(int64(cfg.Records - n))
					return fmt.Errorf("GetRecords %s %s: %w", sh.streamName, sh.id, err)
				}
				retries.Add(1)
				select {
				case <-time.After(time.Duration(50<<failures) * time.Millisecond):
				case <-ctx.Done():
				}
				continue
			}
			failures = 0
			calls.Add(1)
			records.Add(int64(len(out.Records)))
			for _, r := range out.Records {
				d := r.Data
				if len(d) != cfg.Size {
					corrupt.Add(1)
					continue
				}
				seq := int(binary.BigEndian.Uint32(d[8:]))
				if seq >= cfg.Records {
					corrupt.Add(1)
					continue
				}
				fillScaleRecord(want, sh.stream, sh.shard, seq)
				switch {
				case string(d) != string(want):
					corrupt.Add(1)
				case seen[seq]:
					dups.Add(1)
				default:
					seen[seq] = true
					n++
				}
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				empty++
			} else if len(out.Records) > 0 {
				empty = 0
			}
			iter = out.NextShardIterator
		}
		verified.Add(int64(n))
		missing.Add(int64(cfg.Records - n))
		return nil
	})
	res.ReadSeconds = time.Since(start).Seconds()
	if proc != nil {
		peak := proc.stop()
		res.ReadPeakRSSMiB, res.ReadPeakRSSAnonMiB = peak.RSSMiB, peak.RSSAnonMiB
		if cpu, perr := procCPU(cfg.PID); perr == nil {
			res.ReadCPUSeconds = cpu - cpu0
		}
	}
	rd.Shards = int64(len(shards))
	rd.Calls, rd.Records, rd.Verified, rd.Missing = calls.Load(), records.Load(), verified.Load(), missing.Load()
	rd.Duplicates, rd.Corrupt, rd.Retries = dups.Load(), corrupt.Load(), retries.Load()
	res.Read = &rd
	cfg.logf("read %d records from %d shards in %.2f s: %d verified, %d missing, %d duplicated, %d corrupt",
		rd.Records, rd.Shards, res.ReadSeconds, rd.Verified, rd.Missing, rd.Duplicates, rd.Corrupt)
	if err == nil && (rd.Missing > 0 || rd.Duplicates > 0 || rd.Corrupt > 0) {
		err = fmt.Errorf("verification failed: %d missing, %d duplicated, %d corrupt records", rd.Missing, rd.Duplicates, rd.Corrupt)
	}
	return err
}
