package storagetest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// The crash test runs the test binary again as a writer, kills it with
// SIGKILL after a random number of acknowledged Appends, reopens the
// engine and checks what survived. Each round continues on the same
// directory, so later rounds also check that earlier rounds' records are
// still there and that numbering never goes back.

const (
	envCrashDir   = "MILLRACE_STORAGETEST_CRASH_DIR"
	envCrashRound = "MILLRACE_STORAGETEST_CRASH_ROUND"
	envCrashSeed  = "MILLRACE_STORAGETEST_CRASH_SEED"

	crashRounds  = 5
	crashShards  = 4
	crashWriters = 4
	crashStream  = 7
	crashMagic   = 0x4d52 // "MR"
	// Header of every record's data: magic u16, batch u64, index u32,
	// count u32, then the payload, then a CRC-32C of everything before it.
	crashHeaderLen = 2 + 8 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crashShard(i int) storage.ShardKey {
	return storage.ShardKey{Stream: crashStream, Shard: uint32(i)}
}

func (s *suite) testCrash(t *testing.T) {
	if s.cfg.volatile {
		t.Skip("engine keeps nothing across Close")
	}
	if dir := os.Getenv(envCrashDir); dir != "" {
		s.crashWriter(t, dir)
		return
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", envCrashSeed, err)
		}
	}
	t.Logf("seed %d (set %s to repeat)", seed, envCrashSeed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()

	acked := map[ackKey]crashAck{}       // every Append acknowledged in any round
	floor := make([]uint64, crashShards) // highest seq found after the last restart
	ackedRecords := 0
	for round := range crashRounds {
		killAfter := 10 + rng.IntN(90)
		acks := runCrashWriter(t, dir, round, seed, killAfter)
		records := 0
		for _, a := range acks {
			if a.firstSeq <= floor[a.shard] {
				t.Fatalf("round %d: Append to shard %d acknowledged at seq %d, not above %d found after the previous restart",
					round, a.shard, a.firstSeq, floor[a.shard])
			}
			acked[ackKey{a.shard, a.firstSeq}] = a
			records += a.count
		}
		ackedRecords += records

		e := s.openAt(t, dir)
		found, unacked := verifyCrash(t, e, acked, floor)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d Appends (%d records) acknowledged; restart finds %d records, all %d acknowledged so far among them, plus %d whole unacknowledged Appends",
			round, len(acks), records, found, ackedRecords, unacked)
	}
}

type ackKey struct {
	shard    int
	firstSeq uint64
}

type crashAck struct {
	shard    int
	firstSeq uint64
	count    int
	sum      uint32 // CRC-32C over the batch's data, in order
}

// runCrashWriter starts the writer, kills it once it has printed killAfter
// acknowledgements and returns every acknowledgement it printed.
func runCrashWriter(t *testing.T, dir string, round int, seed uint64, killAfter int) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+testPattern(t.Name()), "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(),
		envCrashDir+"="+dir,
		envCrashRound+"="+strconv.Itoa(round),
		envCrashSeed+"="+strconv.FormatUint(seed, 10),
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []crashAck
	var other []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		a, ok := parseAck(line)
		if !ok {
			other = append(other, line)
			continue
		}
		acks = append(acks, a)
		if !killed && len(acks) >= killAfter {
			// The writer goes on appending until the signal lands.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// A last, partial line (if any) is not an acknowledgement.
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: writer stopped after %d acks (%v)\nstdout:\n%s\nstderr:\n%s",
			round, len(acks), err, strings.Join(other, "\n"), stderr.String())
	}
	return acks
}

// testPattern turns a test name into a -test.run pattern matching exactly
// it.
func testPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func parseAck(line string) (crashAck, bool) {
	var a crashAck
	n, err := fmt.Sscanf(line, "ACK %d %d %d %d", &a.shard, &a.firstSeq, &a.count, &a.sum)
	return a, err == nil && n == 4
}

// crashWriter is the child side: it appends until it is killed, and prints
// one line per Append only after the Append returned.
func (s *suite) crashWriter(t *testing.T, dir string) {
	round, _ := strconv.Atoi(os.Getenv(envCrashRound))
	seed, _ := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	e := s.open(t, dir)
	// Should the parent vanish, do not write forever.
	time.AfterFunc(60*time.Second, func() { os.Exit(3) })
	var outMu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(round*crashWriters+w+1)))
			for n := uint64(0); ; {
				// Half the time one Append, otherwise an AppendMany over
				// two or more shards; every part is acknowledged on its own
				// line.
				parts := 1
				if rng.IntN(2) == 0 {
					parts = 2 + rng.IntN(crashShards-1)
				}
				appends := make([]storage.ShardAppend, parts)
				shards := rng.Perm(crashShards)[:parts]
				sums := make([]uint32, parts)
				for p, shard := range shards {
					batch := uint64(round)<<48 | uint64(w)<<40 | n
					n++
					es, sum := crashBatch(rng, batch, 1+rng.IntN(500))
					appends[p] = storage.ShardAppend{Shard: crashShard(shard), Entries: es}
					sums[p] = sum
				}
				now := time.Now().UnixMilli()
				if parts == 1 {
					appends[0].Result, appends[0].Err = e.Append(context.Background(), appends[0].Shard, now, appends[0].Entries)
				} else {
					e.AppendMany(context.Background(), now, appends)
				}
				var lines []byte
				for p, a := range appends {
					if a.Err != nil {
						fmt.Fprintf(os.Stderr, "writer %d: %v\n", w, a.Err)
						os.Exit(2)
					}
					lines = fmt.Appendf(lines, "ACK %d %d %d %d\n", shards[p], a.Result.FirstSeq, len(a.Entries), sums[p])
				}
				outMu.Lock()
				_, err := os.Stdout.Write(lines)
				outMu.Unlock()
				if err != nil {
					os.Exit(2)
				}
			}
		}()
	}
	wg.Wait()
}

// crashBatch makes count self-describing records: each one's data names its
// batch and position and ends with a checksum.
func crashBatch(rng *rand.Rand, batch uint64, count int) ([]storage.Entry, uint32) {
	es := make([]storage.Entry, count)
	var sum uint32
	for i := range es {
		payload := rng.IntN(1024)
		d := make([]byte, crashHeaderLen+payload+4)
		binary.BigEndian.PutUint16(d, crashMagic)
		binary.BigEndian.PutUint64(d[2:], batch)
		binary.BigEndian.PutUint32(d[10:], uint32(i))
		binary.BigEndian.PutUint32(d[14:], uint32(count))
		for j := crashHeaderLen; j < crashHeaderLen+payload; j++ {
			d[j] = byte(rng.Uint32())
		}
		binary.BigEndian.PutUint32(d[len(d)-4:], crc32.Checksum(d[:len(d)-4], castagnoli))
		es[i] = storage.Entry{PartitionKey: []byte(strconv.FormatUint(batch, 36)), Data: d}
		sum = crc32.Update(sum, castagnoli, d)
	}
	return es, sum
}

type crashBatchInfo struct {
	count int
	sum   uint32
}

// verifyCrash checks every stored record of the crash shards: each is
// well-formed, batches are whole and contiguous, and every acknowledged
// Append is there with its data. It raises floor to each shard's highest
// seq and returns how many records are stored and how many whole batches
// were never acknowledged.
func verifyCrash(t *testing.T, e Engine, acked map[ackKey]crashAck, floor []uint64) (records, unacked int) {
	t.Helper()
	for shard := range crashShards {
		recs := readAll(t, e, crashShard(shard))
		records += len(recs)
		batches := map[uint64]crashBatchInfo{} // by first seq
		for i := 0; i < len(recs); {
			batch, idx, count, ok := parseCrashRecord(recs[i].Data)
			if !ok {
				t.Fatalf("shard %d seq %d: malformed record (%d bytes)", shard, recs[i].Seq, len(recs[i].Data))
			}
			if idx != 0 {
				t.Fatalf("shard %d seq %d: batch %x starts at index %d: half-written Append", shard, recs[i].Seq, batch, idx)
			}
			if i+count > len(recs) {
				t.Fatalf("shard %d seq %d: batch %x of %d records has only %d stored", shard, recs[i].Seq, batch, count, len(recs)-i)
			}
			var sum uint32
			for j := range count {
				r := &recs[i+j]
				b, x, c, ok := parseCrashRecord(r.Data)
				if !ok || b != batch || x != j || c != count {
					t.Fatalf("shard %d seq %d: expected record %d of batch %x, found batch %x record %d of %d (well-formed %v)",
						shard, r.Seq, j, batch, b, x, c, ok)
				}
				if r.Seq != recs[i].Seq+uint64(j) {
					t.Fatalf("shard %d: batch %x not contiguous: record %d at seq %d, batch starts at %d",
						shard, batch, j, r.Seq, recs[i].Seq)
				}
				if r.Arrival != recs[i].Arrival {
					t.Fatalf("shard %d seq %d: arrival differs within one Append", shard, r.Seq)
				}
				sum = crc32.Update(sum, castagnoli, r.Data)
			}
			batches[recs[i].Seq] = crashBatchInfo{count: count, sum: sum}
			if _, ok := acked[ackKey{shard, recs[i].Seq}]; !ok {
				unacked++
			}
			i += count
		}
		if len(recs) > 0 {
			floor[shard] = max(floor[shard], recs[len(recs)-1].Seq)
		}
		for k, a := range acked {
			if k.shard != shard {
				continue
			}
			b, ok := batches[a.firstSeq]
			if !ok {
				t.Fatalf("shard %d: acknowledged Append at seq %d (%d records) is missing after restart", shard, a.firstSeq, a.count)
			}
			if b.count != a.count || b.sum != a.sum {
				t.Fatalf("shard %d: acknowledged Append at seq %d: stored %d records sum %08x, acknowledged %d records sum %08x",
					shard, a.firstSeq, b.count, b.sum, a.count, a.sum)
			}
		}
	}
	return records, unacked
}

func parseCrashRecord(d []byte) (batch uint64, idx, count int, ok bool) {
	if len(d) < crashHeaderLen+4 || binary.BigEndian.Uint16(d) != crashMagic {
		return 0, 0, 0, false
	}
	if crc32.Checksum(d[:len(d)-4], castagnoli) != binary.BigEndian.Uint32(d[len(d)-4:]) {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(d[2:]), int(binary.BigEndian.Uint32(d[10:])), int(binary.BigEndian.Uint32(d[14:])), true
}
