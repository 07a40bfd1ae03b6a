package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what a run measured. Its JSON form is the --json output.
type Result struct {
	Config ConfigSummary    `json:"config"`
	Stream string           `json:"stream"`
	Write  WriteStats       `json:"write"`
	Read   *ReadStats       `json:"read,omitempty"`
	Errors map[string]int64 `json:"errors"`
	Server *ServerStats     `json:"server,omitempty"`
}

// ConfigSummary is the part of the configuration a result depends on.
type ConfigSummary struct {
	Endpoint string  `json:"endpoint"`
	Client   string  `json:"client"`
	Op       string  `json:"op"`
	Shards   int     `json:"shards"`
	Workers  int     `json:"workers"`
	Batch    int     `json:"batch"`
	Size     int     `json:"size"`
	Duration string  `json:"duration,omitempty"`
	Records  int64   `json:"records,omitempty"`
	RateMBps float64 `json:"rate_mbps,omitempty"`
	Burst    int     `json:"burst,omitempty"`
}

func summarize(c *Config) ConfigSummary {
	s := ConfigSummary{Endpoint: c.Endpoint, Client: c.Client, Op: c.Op, Shards: c.Shards, Workers: c.Workers,
		Batch: c.Batch, Size: c.Size, Records: c.Records, RateMBps: c.RateMBps}
	if c.Burst > 1 {
		s.Burst = c.Burst
	}
	if c.Op == OpPutRecord {
		s.Batch = 1
	}
	if c.Duration > 0 {
		s.Duration = c.Duration.String()
	}
	return s
}

// WriteStats is the write phase.
type WriteStats struct {
	Seconds       float64 `json:"seconds"`
	Calls         int64   `json:"calls"` // successful put calls
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"` // record data
	RecordsPerSec float64 `json:"records_per_sec"`
	MBps          float64 `json:"mb_per_sec"` // 10^6 bytes of record data
	FailedRecords int64   `json:"failed_records"`
	// KeyBytes is the length of the stored records' partition keys: the
	// server's IncomingBytes is Bytes plus KeyBytes.
	KeyBytes int64 `json:"key_bytes"`
	// Shards tallies the stored records by the ShardId each put response
	// gave them.
	Shards map[string]ShardCount `json:"shards"`
	// Latency of successful put calls, in milliseconds.
	LatencyMs Latency `json:"latency_ms"`
	// Bursts counts the bursts (--burst) whose every call succeeded;
	// BurstLatencyMs[k] is the latency of the (k+1)-th of each such
	// burst's calls to be answered, so the last entry is what the call
	// that waits longest in a burst sees.
	Bursts         int64     `json:"bursts,omitempty"`
	BurstLatencyMs []Latency `json:"burst_latency_ms,omitempty"`
}

// ShardCount is what one shard stored or returned: records, bytes of
// record data and bytes of partition keys.
type ShardCount struct {
	Records  int64 `json:"records"`
	Bytes    int64 `json:"bytes"`
	KeyBytes int64 `json:"key_bytes"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ReadStats is the read-back phase.
type ReadStats struct {
	Seconds float64 `json:"seconds"`
	Calls   int64   `json:"calls"`
	// Retries counts failed GetRecords calls that were retried with the
	// same iterator.
	Retries       int64   `json:"retries"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"` // record data
	RecordsPerSec float64 `json:"records_per_sec"`
	MBps          float64 `json:"mb_per_sec"`
	// KeyBytes is the length of the partition keys read; Shards tallies
	// the records read by shard.
	KeyBytes int64                 `json:"key_bytes"`
	Shards   map[string]ShardCount `json:"shards"`
	// Verified acknowledged records came back intact exactly once; Missing
	// ones did not come back. Unacknowledged records came back although
	// their call failed (e.g. a timeout after the server stored them).
	Verified       int64 `json:"verified"`
	Missing        int64 `json:"missing"`
	Duplicates     int64 `json:"duplicates"`
	Corrupt        int64 `json:"corrupt"`
	Unacknowledged int64 `json:"unacknowledged"`
	// Foreign records are not from this run (an existing stream's writers).
	Foreign int64 `json:"foreign"`
}

// ServerStats is the sampled server process.
type ServerStats struct {
	PID int `json:"pid"`
	// CPU time over the whole run (write and read-back), user plus system.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPU time during the write phase, and per MB written.
	WriteCPUSeconds float64 `json:"write_cpu_seconds"`
	// RSS at the start, the highest sampled (every 100 ms) during the run,
	// and the kernel's high-water mark (VmHWM) for the process's lifetime.
	StartRSSMiB float64 `json:"start_rss_mib"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	HWMMiB      float64 `json:"vmhwm_mib"`
}

func writeStats(workers []*workerState, elapsed time.Duration, size, burst int) WriteStats {
	var lat []time.Duration
	ws := WriteStats{Seconds: elapsed.Seconds(), Shards: map[string]ShardCount{}}
	for _, w := range workers {
		lat = append(lat, w.latencies...)
		for id, c := range w.perShard {
			t := ws.Shards[id]
			t.Records += c.Records
			t.Bytes += c.Bytes
			t.KeyBytes += c.KeyBytes
			ws.Shards[id] = t
			ws.KeyBytes += c.KeyBytes
		}
		ws.Calls += w.putCalls
		for n := range w.sent {
			if w.acked.has(n) {
				ws.Records++
			} else {
				ws.FailedRecords++
			}
		}
	}
	ws.Bytes = ws.Records * int64(size)
	if s := elapsed.Seconds(); s > 0 {
		ws.RecordsPerSec = float64(ws.Records) / s
		ws.MBps = float64(ws.Bytes) / 1e6 / s
	}
	ws.LatencyMs = percentiles(lat)
	if burst > 1 {
		ws.Bursts, ws.BurstLatencyMs = burstStats(workers, burst)
	}
	return ws
}

// burstStats groups the successful calls by the burst they were released
// in (their group of workers and instant) and returns the number of
// complete bursts and, for each rank k, the percentiles of the k-th
// fastest call of each.
func burstStats(workers []*workerState, burst int) (int64, []Latency) {
	type key struct {
		group int
		at    int64
	}
	bursts := map[key][]time.Duration{}
	for i, w := range workers {
		for j, at := range w.scheduled {
			k := key{i / burst, at}
			bursts[k] = append(bursts[k], w.latencies[j])
		}
	}
	ranks := make([][]time.Duration, burst)
	var n int64
	for _, lat := range bursts {
		if len(lat) != burst {
			continue
		}
		n++
		slices.Sort(lat)
		for r, d := range lat {
			ranks[r] = append(ranks[r], d)
		}
	}
	if n == 0 {
		return 0, nil
	}
	out := make([]Latency, burst)
	for r := range ranks {
		out[r] = percentiles(ranks[r])
	}
	return n, out
}

func percentiles(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(q*float64(len(lat))+0.5) - 1
		i = min(max(i, 0), len(lat)-1)
		return float64(lat[i]) / 1e6
	}
	return Latency{P50: at(0.5), P90: at(0.9), P99: at(0.99), P999: at(0.999), Max: float64(lat[len(lat)-1]) / 1e6}
}

// procSampler samples a local process's CPU time and RSS from /proc.
type procSampler struct {
	pid      int
	cpu0     float64
	writeCPU float64
	rss0     float64
	mu       sync.Mutex
	peak     float64
	stopc    chan struct{}
	done     chan struct{}
	sampled  bool
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func startProcSampler(pid int) (*procSampler, error) {
	cpu, err := procCPU(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	rss, _, err := procMem(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	p := &procSampler{pid: pid, cpu0: cpu, rss0: rss, peak: rss, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				if rss, _, err := procMem(pid); err == nil {
					p.mu.Lock()
					p.peak = max(p.peak, rss)
					p.mu.Unlock()
				}
			}
		}
	}()
	return p, nil
}

// sample marks the end of the write phase.
func (p *procSampler) sample() {
	if cpu, err := procCPU(p.pid); err == nil {
		p.writeCPU = cpu - p.cpu0
	}
}

func (p *procSampler) stop() *ServerStats {
	close(p.stopc)
	<-p.done
	s := &ServerStats{PID: p.pid, StartRSSMiB: p.rss0, WriteCPUSeconds: p.writeCPU}
	if cpu, err := procCPU(p.pid); err == nil {
		s.CPUSeconds = cpu - p.cpu0
	}
	rss, hwm, err := procMem(p.pid)
	p.mu.Lock()
	s.PeakRSSMiB = p.peak
	p.mu.Unlock()
	if err == nil {
		s.PeakRSSMiB = max(s.PeakRSSMiB, rss)
		s.HWMMiB = hwm
	}
	return s
}

// procCPU returns utime+stime of a process in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(0) ... utime is field 14 of the line, 11 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	return (ut + st) / clockTicks, nil
}

// procMem returns VmRSS and VmHWM in MiB.
func procMem(pid int) (rss, hwm float64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			prefix string
			dst    *float64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if rest, ok := strings.CutPrefix(line, k.prefix); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				*k.dst = kb / 1024
			}
		}
	}
	return rss, hwm, sc.Err()
}

// startProgress reports progress every second: one rewritten line on a
// terminal, otherwise a line every 5 seconds. The returned func stops it
// and ends the line.
func startProgress(cfg *Config, cnt *counters) func() {
	if cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		every := 5 * time.Second
		if cfg.TTY {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		var lastBytes int64
		last := start
		for {
			select {
			case <-stop:
				if cfg.TTY {
					fmt.Fprint(cfg.Progress, "\r\033[K")
				}
				return
			case now := <-t.C:
				b := cnt.bytes.Load()
				rate := float64(b-lastBytes) / 1e6 / now.Sub(last).Seconds()
				lastBytes, last = b, now
				line := fmt.Sprintf("%5.0fs  %d records  %.1f MB/s now  %d calls  %d failed records",
					now.Sub(start).Seconds(), cnt.records.Load(), rate, cnt.calls.Load(), cnt.failures.Load())
				if cfg.TTY {
					fmt.Fprintf(cfg.Progress, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(cfg.Progress, line)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// WriteTable prints the result as a table.
func (r *Result) WriteTable(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "endpoint %s  stream %s  client %s  op %s\n", c.Endpoint, r.Stream, c.Client, c.Op)
	fmt.Fprintf(w, "%d shards, %d workers, %d records x %d bytes per call", c.Shards, c.Workers, c.Batch, c.Size)
	if c.RateMBps > 0 {
		fmt.Fprintf(w, ", %g MB/s offered", c.RateMBps)
	}
	if c.Burst > 1 {
		fmt.Fprintf(w, " in bursts of %d calls", c.Burst)
	}
	fmt.Fprint(w, "\n\n")
	tw := func(k, v string) { fmt.Fprintf(w, "  %-26s %s\n", k, v) }
	ws := r.Write
	fmt.Fprintln(w, "write")
	tw("duration", fmt.Sprintf("%.2f s", ws.Seconds))
	tw("records", fmt.Sprintf("%d (%d failed)", ws.Records, ws.FailedRecords))
	tw("throughput", fmt.Sprintf("%.0f records/s, %.1f MB/s", ws.RecordsPerSec, ws.MBps))
	tw("calls", fmt.Sprintf("%d (%.0f/s)", ws.Calls, float64(ws.Calls)/max(ws.Seconds, 1e-9)))
	l := ws.LatencyMs
	tw("latency ms", fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f", l.P50, l.P90, l.P99, l.P999, l.Max))
	if len(ws.BurstLatencyMs) > 0 {
		tw("bursts", fmt.Sprintf("%d complete", ws.Bursts))
		for k, l := range ws.BurstLatencyMs {
			tw(fmt.Sprintf("  call %d of %d answered", k+1, len(ws.BurstLatencyMs)), fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  max %.2f", l.P50, l.P90, l.P99, l.Max))
		}
	}
	if rs := r.Read; rs != nil {
		fmt.Fprintln(w, "read back")
		tw("duration", fmt.Sprintf("%.2f s (%d GetRecords calls)", rs.Seconds, rs.Calls))
		if rs.Retries > 0 {
			tw("retried calls", fmt.Sprintf("%d", rs.Retries))
		}
		tw("throughput", fmt.Sprintf("%.0f records/s, %.1f MB/s", rs.RecordsPerSec, rs.MBps))
		tw("verified", fmt.Sprintf("%d", rs.Verified))
		tw("missing/dup/corrupt", fmt.Sprintf("%d / %d / %d", rs.Missing, rs.Duplicates, rs.Corrupt))
		if rs.Unacknowledged > 0 || rs.Foreign > 0 {
			tw("unacknowledged/foreign", fmt.Sprintf("%d / %d", rs.Unacknowledged, rs.Foreign))
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "errors")
		codes := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			codes = append(codes, k)
		}
		sort.Strings(codes)
		for _, k := range codes {
			tw(k, strconv.FormatInt(r.Errors[k], 10))
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server (pid %d)\n", s.PID)
		perMB := 0.0
		if ws.Bytes > 0 {
			perMB = s.WriteCPUSeconds / (float64(ws.Bytes) / 1e6) * 1e3
		}
		tw("cpu", fmt.Sprintf("%.2f s total, %.2f s writing (%.2f ms per MB)", s.CPUSeconds, s.WriteCPUSeconds, perMB))
		tw("rss MiB", fmt.Sprintf("start %.1f  peak %.1f  (VmHWM %.1f)", s.StartRSSMiB, s.PeakRSSMiB, s.HWMMiB))
	}
}
