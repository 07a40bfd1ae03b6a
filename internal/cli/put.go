package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/producer"
)

const putHelpIntro = `Usage:
  millrace put STREAM [flags]

Writes one record per line of stdin (or --file) to a stream (a name or an
ARN), without the line's end (\n or \r\n); empty lines are skipped. Records
go out in PutRecords calls of up to 500 records and 5 MiB, through the
producer package: per-shard rate limits at the Kinesis shard limits (1,000
records/s and 1 MiB/s), records a shard refuses for throughput retried with
backoff. A record not written within --record-ttl, or refused for another
reason, fails; the exit status is then 1 and stderr names the first failure.
SIGINT stops the reading; what was read is sent for one more second, and
what is still unsent then is counted as failed.

The partition key of each record is --partition-key, or the value of the
JSON field --key-field of the line, or else a key unique to the line (so the
records spread over the shards).

On a terminal, stderr shows a progress line (records sent, rate); at the
end stderr gets a summary line: records written, bytes of data, elapsed
time, rate.

Examples:
  seq 1 1000 | millrace put numbers
  millrace put orders --file orders.jsonl --key-field customer

` + awsFlagsHelp + `
Flags:
`

// putOptions are the put command's settings.
type putOptions struct {
	aws          awsFlags
	file         string
	partitionKey string
	keyField     string
	aggregate    bool
	recordTTL    time.Duration
}

func (o *putOptions) register(fs *flag.FlagSet) {
	o.aws.register(fs)
	fs.StringVar(&o.file, "file", "", "Read the records from this file instead of stdin (- is stdin).")
	fs.StringVar(&o.partitionKey, "partition-key", "", "Partition key of every record.")
	fs.StringVar(&o.keyField, "key-field", "", "Take each record's partition key from this top-level field of the line, a JSON object (a string or a number).")
	fs.BoolVar(&o.aggregate, "aggregate", false, "Pack records bound for the same shard into KPL aggregated records (fewer Kinesis records; readers must deaggregate, as tail and the KCL do).")
	fs.DurationVar(&o.recordTTL, "record-ttl", 2*time.Minute, "How long a record may take to be written, retries included, before it fails.")
}

func writePutHelp(w io.Writer) {
	var o putOptions
	fs := flag.NewFlagSet("millrace put", flag.ContinueOnError)
	o.register(fs)
	writeFlagsHelp(w, putHelpIntro, fs)
}

// maxLine bounds one input line: a Kinesis record holds at most 1 MiB of
// data and partition key.
const maxLine = 1 << 20

// runPut is the put command.
func runPut(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	var o putOptions
	fs := flag.NewFlagSet("millrace put", flag.ContinueOnError)
	o.register(fs)
	pos, done, err := parseFlags(fs, args, stdout, writePutHelp)
	if done || err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("put takes one stream name or ARN, got %d arguments", len(pos))}
	}
	if o.partitionKey != "" && o.keyField != "" {
		return usageError{errors.New("--partition-key and --key-field exclude each other")}
	}
	if len(o.partitionKey) > 256 {
		return usageError{fmt.Errorf("--partition-key is %d bytes long, at most 256 allowed", len(o.partitionKey))}
	}
	if o.recordTTL <= 0 {
		return usageError{fmt.Errorf("--record-ttl %v must be positive", o.recordTTL)}
	}
	in := stdin
	if o.file != "" && o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		in = f
	}
	client, err := o.aws.kinesisClient(ctx, lookupEnv)
	if err != nil {
		return err
	}
	p, err := producer.New(client, pos[0], producer.Options{
		DisableAggregation: !o.aggregate,
		RecordTTL:          o.recordTTL,
	})
	if err != nil {
		return err
	}

	var (
		st    putStats
		start = time.Now()
	)
	stopProgress := func() {}
	if isTerminal(stderr) {
		stopProgress = st.progress(stderr, start)
	}
	keyPrefix := randomHex(8)
	readErr := func() error {
		r := bufio.NewReaderSize(in, 64<<10)
		for line := 1; ; line++ {
			data, err := readLine(r)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			if len(data) == 0 {
				continue
			}
			key := o.partitionKey
			switch {
			case o.keyField != "":
				if key, err = jsonKey(data, o.keyField); err != nil {
					return fmt.Errorf("line %d: %w", line, err)
				}
			case key == "":
				key = keyPrefix + "-" + strconv.Itoa(line)
			}
			st.pending.Add(1)
			n, ln := len(data), line
			err = p.PutCallback(ctx, aggregation.Record{PartitionKey: key, Data: data}, func(res producer.Result) {
				st.done(n, ln, res.Err)
			})
			if err != nil {
				st.pending.Add(-1)
				return fmt.Errorf("line %d: %w", line, err)
			}
		}
	}()
	// Send what was read; after SIGINT, for one more second only, then
	// what is still queued fails and calls in flight are cancelled.
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), o.recordTTL+10*time.Second)
	defer cancelClose()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(time.Second, cancelClose) })
	defer stopGrace()
	closeErr := p.Close(closeCtx)
	stopProgress()
	elapsed := time.Since(start)
	ok, failed, bytes := st.ok.Load(), st.failed.Load(), st.bytes.Load()
	rate := float64(ok) / max(elapsed.Seconds(), 1e-3)
	fmt.Fprintf(stderr, "%d records written (%s of data) in %v, %.0f records/s", ok, formatBytes(bytes), elapsed.Round(time.Millisecond), rate)
	if failed > 0 {
		fmt.Fprintf(stderr, "; %d failed", failed)
	}
	fmt.Fprintln(stderr)
	switch {
	case ctx.Err() != nil && failed > 0:
		return fmt.Errorf("interrupted: %d of the %d records read are not known to be written", failed, ok+failed)
	case ctx.Err() != nil && readErr != nil:
		return errors.New("interrupted: stopped reading the input")
	case readErr != nil:
		return readErr
	case failed > 0:
		st.mu.Lock()
		defer st.mu.Unlock()
		return fmt.Errorf("%d of %d records failed; the first, line %d: %v", failed, ok+failed, st.firstLine, st.firstErr)
	case closeErr != nil:
		return closeErr
	}
	return nil
}

// readLine reads one line without its end; io.EOF when there is none.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine+2 {
			return nil, fmt.Errorf("longer than %d bytes, the most a record holds", maxLine)
		}
		line = append(line, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
		case err != nil:
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > maxLine {
			return nil, fmt.Errorf("longer than %d bytes, the most a record holds", maxLine)
		}
		return line, nil
	}
}

// jsonKey is the partition key in field of the JSON object line.
func jsonKey(line []byte, field string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return "", fmt.Errorf("--key-field %s: the line is not a JSON object", field)
	}
	raw, ok := obj[field]
	if !ok {
		return "", fmt.Errorf("--key-field %s: the object has no such field", field)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("--key-field %s: %s is not a non-empty string or a number", field, raw)
}

// putStats counts the results of the records put.
type putStats struct {
	pending, ok, failed, bytes atomic.Int64

	mu        sync.Mutex
	firstLine int
	firstErr  error
}

func (s *putStats) done(n, line int, err error) {
	s.pending.Add(-1)
	if err == nil {
		s.ok.Add(1)
		s.bytes.Add(int64(n))
		return
	}
	s.failed.Add(1)
	s.mu.Lock()
	if s.firstErr == nil || line < s.firstLine {
		s.firstLine, s.firstErr = line, err
	}
	s.mu.Unlock()
}

// progress rewrites one line of w twice a second until the returned
// function is called, which clears it.
func (s *putStats) progress(w io.Writer, start time.Time) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				ok := s.ok.Load()
				fmt.Fprintf(w, "\r\033[K%d records sent, %.0f records/s, %d waiting", ok,
					float64(ok)/time.Since(start).Seconds(), s.pending.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// formatBytes is n in B, KiB, MiB or GiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 2 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, [...]string{"KiB", "MiB", "GiB"}[i])
}
